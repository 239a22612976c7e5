"""Every kind of training task speaks one interface (``training.task.TrainingTask``): built from
its config, each gives a signature, a trained domain, an architecture, a quality and its figure
panels from which the export assembles a version the server loads; and the CLI, the export and
the figure name no kind of task."""

from __future__ import annotations

import ast
import builtins
import math
import struct
from pathlib import Path
from typing import Any, get_args

import pytest
import torch
import yaml

from service.models import ModelRepository
from service.models.architectures import resolve_architecture
from service.models.manifest import ArchitectureSpec
from service.units import parse_unit
from tests.support.jobs import OSCILLATOR, example
from tests.support.paths import REPO
from training.config import JobConfig, PinnJob, SurrogateJob, load_config
from training.export import build_manifest, export_model
from training.kinds import TASKS, build_task
from training.plots import plot_run
from training.task import TrainingTask

PENDULUM = {
    **example("pendulum"),
    "data": str(REPO / "training" / "data" / "pendulum-period.parquet"),
}
PENDULUM_EXPORT = {
    "repository": "unused",
    "name": "pendulum",
    "domain": {"amplitude": {"lower": -2.8, "upper": 2.8, "unit": "rad"}},
}

# One row per task of every kind: (id, config, what its quality measures).
TABLE: list[tuple[str, dict[str, Any], set[str]]] = [
    ("pinn damped_oscillator", OSCILLATOR, {"relative_l2_error"}),
    ("pinn heat_1d", example("heat-rod"), {"relative_l2_error"}),
    (
        "surrogate pi_group_mlp",
        {**PENDULUM, "export": PENDULUM_EXPORT},
        {"max_relative_error", "mean_relative_error"},
    ),
    (
        "surrogate mlp",
        {k: v for k, v in {**PENDULUM, "architecture": "mlp"}.items() if k != "pi"},
        {"max_relative_error", "mean_relative_error"},
    ),
]


def _config(tmp_path: Path, doc: dict[str, Any]) -> PinnJob | SurrogateJob:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({**doc, "checkpoint_dir": str(tmp_path / "ckpt")}))
    return load_config(path)


def _task(tmp_path: Path, doc: dict[str, Any]) -> tuple[PinnJob | SurrogateJob, TrainingTask]:
    config = _config(tmp_path, doc)
    torch.manual_seed(config.seed)
    return config, build_task(config)


def test_the_table_holds_a_task_of_every_kind_a_config_can_name() -> None:
    union, _ = get_args(JobConfig)
    kinds = {get_args(job.model_fields["kind"].annotation)[0] for job in get_args(union)}
    assert set(TASKS) == kinds
    assert {doc["kind"] for _, doc, _ in TABLE} == kinds


@pytest.mark.parametrize(("doc", "measures"), [pytest.param(d, m, id=i) for i, d, m in TABLE])
def test_each_task_describes_what_the_export_needs(
    tmp_path: Path, doc: dict[str, Any], measures: set[str]
) -> None:
    config, task = _task(tmp_path, doc)
    assert isinstance(task, TrainingTask)
    assert task.describe().startswith(f"{config.kind} ")
    signature = task.signature()
    names = [port.name for port in signature.inputs]
    assert names
    assert signature.outputs
    for port in (*signature.inputs, *signature.outputs):
        parse_unit(port.unit)  # a unit the server reads
    for name, domain in task.trained_domain().items():
        assert name in names
        assert (
            parse_unit(domain["unit"]).dimension
            == parse_unit(signature.inputs[names.index(name)].unit).dimension
        )
    assert task.describe_domain()
    quality = task.quality()
    assert set(quality) == measures
    assert all(math.isfinite(v) for v in quality.values())
    rebuilt = resolve_architecture(ArchitectureSpec.model_validate(task.architecture)).build()
    assert rebuilt.state_dict().keys() == task.module.state_dict().keys()


@pytest.mark.parametrize(("doc", "measures"), [pytest.param(d, m, id=i) for i, d, m in TABLE])
def test_each_task_exports_a_version_the_server_loads_without_training(
    tmp_path: Path, doc: dict[str, Any], measures: set[str]
) -> None:
    config, task = _task(tmp_path, doc)
    manifest = build_manifest(task, config, task.quality())
    folder = export_model(tmp_path / "models", "m", task.module.cpu().eval(), manifest)
    model = ModelRepository.load(tmp_path / "models").get("m", folder.name)
    signature = task.signature()
    assert [(s.name, s.unit) for s in model.manifest.inputs] == [
        (p.name, p.unit) for p in signature.inputs
    ]
    assert [(s.name, s.unit) for s in model.manifest.outputs] == [
        (p.name, p.unit) for p in signature.outputs
    ]
    assert model.manifest.architecture.name == task.architecture["name"]
    assert task.describe() in model.manifest.description
    for name in measures:
        assert name in model.manifest.description
    declared = config.export.domain if config.export else {}
    for spec in model.manifest.inputs:
        assert (spec.domain is not None) == (
            spec.name in declared or spec.name in task.trained_domain()
        )


@pytest.mark.parametrize(("doc", "measures"), [pytest.param(d, m, id=i) for i, d, m in TABLE])
def test_the_figure_has_the_loss_panel_then_each_of_the_tasks(
    tmp_path: Path, doc: dict[str, Any], measures: set[str]
) -> None:
    _, task = _task(tmp_path, doc)
    metrics = [{"step": 1, "terms": {"equation": 1.0}}, {"step": 2, "terms": {"equation": 0.5}}]
    png = plot_run(tmp_path / "figure.png", metrics, task).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _ = struct.unpack(">II", png[16:24])
    assert width == 600 * (1 + len(task.panels()))  # 6 inches at 100 dpi per panel


BUILTIN_TYPES = {name for name in dir(builtins) if isinstance(getattr(builtins, name), type)}
TASK_MODULES = {"training.pinn", "training.problems", "training.surrogate"}


@pytest.mark.parametrize("module", ["cli", "export", "plots"])
def test_the_cli_the_export_and_the_figure_name_no_kind_of_task(module: str) -> None:
    """They import no task implementation, test no object against a class of their own (only
    builtins, as JSON is read) and compare no config's ``kind``: a kind is a row of
    ``training.kinds.TASKS``."""
    tree = ast.parse((REPO / "training" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module not in TASK_MODULES, f"{module}.py imports {node.module}"
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "isinstance",
            "issubclass",
        ):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            assert names <= BUILTIN_TYPES, f"{module}.py line {node.lineno} tests {names}"
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            kinds = [o for o in operands if isinstance(o, ast.Attribute) and o.attr == "kind"]
            assert not kinds, f"{module}.py line {node.lineno} compares a kind"
