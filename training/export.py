"""Export a trained task into the model repository the server loads, as the next version.

``<repository>/<name>/<next>/model.yaml`` (the unit signature, the architecture and a
description of where the model is valid, assembled from the ``training.task.TrainingTask``
alone, whatever its kind) and ``weights.safetensors`` (with its sha256 in the manifest),
written by the server's :func:`service.models.publish.publish_version` (loaded back with the
server's own loader before it is renamed into place, as ``pack`` writes a version).
``exported.json`` beside the checkpoints records the export, so a finished run that runs
again exports nothing new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from torch import nn

from jobkit.errors import ConfigError
from jobkit.files import atomic_write
from service.errors import ServiceError
from service.models import TensorSpec
from service.models.domains import build_domain
from service.models.manifest import DomainSpec, describe_validation_error
from service.models.publish import publish_version, weights_of
from service.units import parse_unit
from training.checkpoints import CheckpointStore
from training.config import Export, PinnJob, SurrogateJob
from training.task import TrainingTask

__all__ = [
    "EXPORTED",
    "build_manifest",
    "check_domains",
    "export_model",
    "export_run",
]

EXPORTED = "exported.json"

log = logging.getLogger("training")


def check_domains(task: TrainingTask, export: Export) -> None:
    """Refuse, before any step, an ``export.domain`` the server would refuse at load: an
    unknown input, a bound of the wrong dimension, lower not below upper."""
    declared = _inputs(task, export.domain)
    try:
        specs = [TensorSpec.model_validate(spec) for spec in declared]
        build_domain(specs, [parse_unit(spec.unit) for spec in specs])
    except ValidationError as exc:
        raise ConfigError(f"export.domain: {describe_validation_error(exc)}") from None
    except ServiceError as exc:
        raise ConfigError(f"export.domain: {exc.message}") from None


def build_manifest(
    task: TrainingTask, config: PinnJob | SurrogateJob, quality: Mapping[str, float]
) -> dict[str, Any]:
    """The exported version's ``model.yaml`` less its name, version and weights: the task's
    signature with each input's domain, its architecture, and a description of where it holds,
    how it was trained and how well."""
    export = config.export
    inputs = _inputs(task, export.domain if export else {})
    outputs = [port.entry() for port in task.signature().outputs]
    measured = ", ".join(f"{k} {v:.2e}" for k, v in quality.items())
    text = (export.description + " " if export and export.description else "") + (
        f"{task.describe_domain()}. Trained by dimtensor-train ({task.describe()}, "
        f"seed {config.seed}, {config.steps} Adam steps + {config.lbfgs_steps} L-BFGS "
        f"iterations); {measured}."
    )
    return {
        "description": text,
        "inputs": inputs,
        "outputs": outputs,
        "architecture": task.architecture,
    }


def _inputs(task: TrainingTask, declared: Mapping[str, DomainSpec]) -> list[dict[str, Any]]:
    """The manifest's inputs, each with its validity domain: the config's ``export.domain``
    entry when it has one, else the range it was trained on."""
    inputs = [port.entry() for port in task.signature().inputs]
    trained = task.trained_domain()
    names = [spec["name"] for spec in inputs]
    unknown = [n for n in declared if n not in names]
    if unknown:
        raise ConfigError(
            f"export.domain: {unknown[0]!r} is not an input of the exported model; "
            f"expected one of {names}"
        )
    for spec in inputs:
        name = spec["name"]
        if name in declared:
            spec["domain"] = declared[name].model_dump(mode="json", exclude_defaults=True)
        elif name in trained:
            spec["domain"] = trained[name]
    return inputs


def export_run(
    task: TrainingTask,
    config: PinnJob | SurrogateJob,
    repository: Path,
    store: CheckpointStore,
    step: int,
    quality: Mapping[str, float],
) -> Path:
    """Export the run's final `step` into `repository` as the next version of the config's
    ``export.name``, once: a rerun of a finished run finds it in ``exported.json`` and returns
    that version's folder."""
    if config.export is None:
        raise ValueError("export_run: the config has no export section")
    marker = store.folder / EXPORTED
    done = _read_json(marker)
    if done.get("step") == step and done.get("config_sha256") == store.config_sha256:
        log.info("already exported at step %d as %s", step, done.get("path"))
        return Path(str(done.get("path")))
    document = build_manifest(task, config, quality)
    folder = export_model(repository, config.export.name, task.module, document)
    record = {"step": step, "config_sha256": store.config_sha256, "path": str(folder)}
    atomic_write(marker, (json.dumps(record) + "\n").encode())
    log.info("exported %s", folder)
    return folder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def export_model(
    repository: Path,
    name: str,
    module: nn.Module,
    manifest: dict[str, Any],
) -> Path:
    """Write `module` with `manifest` (without name, version, weights) as the next version
    of `name`; returns the version's folder."""
    return publish_version(repository, name, weights_of(module), manifest, source="dimtensor-train")
