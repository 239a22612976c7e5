"""Export a trained task into the model repository the server loads, as the next version.

``<repository>/<name>/<next>/model.yaml`` (the unit signature, the architecture and a
description of where the model is valid, assembled from the ``training.task.TrainingTask``
alone, whatever its kind) and ``weights.safetensors`` (with its sha256 in the manifest). The
version is written as a temporary folder inside ``<repository>/<name>/``, loaded back with the
server's own ``load_model`` (so an export the server would refuse never lands), then renamed to
the next free integer version; a rename that loses a race to another export takes the number
after. A server scanning the repository sees no version or a whole one. ``exported.json``
beside the checkpoints records the export, so a finished run that runs again exports nothing
new.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from safetensors.torch import save_file
from torch import nn

from jobkit.errors import ConfigError
from jobkit.files import atomic_write, fsync_dir, remove, sha256_file, temp_path
from service.errors import ServiceError
from service.models import TensorSpec, load_model
from service.models.domains import build_domain
from service.models.manifest import DomainSpec, describe_validation_error
from service.units import parse_unit
from training.checkpoints import CheckpointStore
from training.config import Export, PinnJob, SurrogateJob
from training.task import TrainingTask

__all__ = [
    "EXPORTED",
    "WEIGHTS",
    "build_manifest",
    "check_domains",
    "export_model",
    "export_run",
    "next_version",
]

WEIGHTS = "weights.safetensors"
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


def next_version(folder: Path) -> int:
    """One past the highest integer version under `folder` (1 for none)."""
    versions = (
        [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        if folder.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def export_model(
    repository: Path,
    name: str,
    module: nn.Module,
    manifest: dict[str, Any],
) -> Path:
    """Write `module` with `manifest` (without name, version, weights) as the next version
    of `name`; returns the version's folder."""
    folder = repository / name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(folder / "export")
    tmp.mkdir()
    try:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
        # One metadata key only: safetensors writes a multi-key map in random order.
        save_file(tensors, str(tmp / WEIGHTS), metadata={"source": "dimtensor-train"})
        (tmp / WEIGHTS).chmod(0o644)  # safetensors writes 0600; the server may be another user
        digest = sha256_file(tmp / WEIGHTS)
        while True:
            version = next_version(folder)
            doc = {
                "name": name,
                "version": str(version),
                **manifest,
                "weights": {"file": WEIGHTS, "format": "safetensors", "sha256": digest},
            }
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=96)
            (tmp / "model.yaml").write_text(text, encoding="utf-8")
            load_model(tmp)  # the server's own loader: refuses what it would refuse
            for path in tmp.iterdir():
                with path.open("rb") as fh:
                    os.fsync(fh.fileno())
            try:
                tmp.rename(folder / str(version))
            except OSError:
                if (folder / str(version)).exists():
                    continue  # another export took this number: take the next
                raise
            fsync_dir(folder)
            return folder / str(version)
    finally:
        remove(tmp)
