"""PINN runs: each problem reaches its analytic solution, exports what the server loads, and
refuses (exit 2, nothing written) a config whose terms do not share one dimension."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from jobkit.exits import ExitCode
from service.models import ModelRepository
from tests.support.jobs import OSCILLATOR, TRAINING, oscillator, small_example
from training.tracking import METRICS

cli, write_config = TRAINING.cli, TRAINING.write_config

HEAT = small_example("heat-rod", steps=300, lbfgs_steps=60, checkpoint_every=100)


def _final(folder: Path) -> dict[str, Any]:
    lines = (folder / "ckpt" / METRICS).read_text().splitlines()
    final: dict[str, Any] = json.loads(lines[-1])
    assert final["final"] is True
    return final


def test_the_oscillator_reaches_its_analytic_solution_and_exports_a_servable_model(
    tmp_path: Path,
) -> None:
    assert cli("run", write_config(tmp_path, OSCILLATOR, export="oscillator")) == 0
    assert _final(tmp_path)["relative_l2_error"] < 2e-2
    repository = ModelRepository.load(tmp_path / "models")
    model = repository.get("oscillator")
    assert model.version == "1"
    assert [s.name for s in model.manifest.inputs] == ["t"]
    assert [(s.name, s.unit) for s in model.manifest.outputs] == [("x", "m")]
    assert "valid for t in [0, 4] s only" in model.manifest.description
    assert (tmp_path / "ckpt" / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_heat_rod_reaches_its_analytic_solution(tmp_path: Path) -> None:
    assert cli("run", write_config(tmp_path, HEAT, export="rod")) == 0
    assert _final(tmp_path)["relative_l2_error"] < 5e-2
    model = ModelRepository.load(tmp_path / "models").get("rod")
    x = np.array([0.0, 0.25, 0.5])
    (u,) = model.predict([x, np.zeros(3)])
    np.testing.assert_allclose(u, [293.15, 293.15 + 30 + 30, 353.15], atol=0.5)  # t = 0: exact


def test_metrics_are_json_lines_on_stdout_and_in_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("run", write_config(tmp_path, oscillator(steps=100, lbfgs_steps=0))) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    stored = [json.loads(line) for line in (tmp_path / "ckpt" / METRICS).read_text().splitlines()]
    assert printed == stored
    assert [m["step"] for m in printed[:-1]] == [50, 100]
    for entry in printed[:-1]:
        assert set(entry) == {"step", "loss", "terms", "lr", "step_time_s", "samples_per_s"}
        assert entry["samples_per_s"] > 0


def _with(**parameters: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(OSCILLATOR)
    doc["parameters"].update(parameters)
    return doc


REFUSED: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "damping in kg: the residual's terms differ",
        _with(damping={"value": 0.4, "unit": "kg"}),
        [
            "the residual terms must share one dimension",
            "inertia m·x'' has dimension length*mass*time^-2 (mass in 'kg')",
            "damping c·x' has dimension length*mass*time^-1 (damping in 'kg')",
            "spring k·x has dimension length*mass*time^-2",
        ],
    ),
    (
        "v0 not a velocity",
        _with(v0={"value": 1, "unit": "m"}),
        ["initial velocity terms must share one dimension", "v0 has dimension length (v0 in 'm')"],
    ),
    (
        "t_end not a time",
        _with(t_end={"value": 10, "unit": "m"}),
        ["t_end is the time domain", "must have dimension time; received 'm' of dimension length"],
    ),
    (
        "an unknown unit",
        _with(mass={"value": 1, "unit": "stone_age"}),
        ["parameters.mass", "stone_age"],
    ),
    (
        "a missing parameter",
        {**OSCILLATOR, "parameters": {"mass": {"value": 1, "unit": "kg"}}},
        ["missing ['damping'"],
    ),
    (
        "an unknown problem",
        {**OSCILLATOR, "problem": "navier_stokes"},
        ["problem", "'navier_stokes'"],
    ),
    ("an unknown key", {**OSCILLATOR, "stpes": 10}, ["stpes", "not permitted"]),
    (
        "heat diffusivity of the wrong dimension",
        {**HEAT, "parameters": {**HEAT["parameters"], "diffusivity": {"value": 1, "unit": "m/s"}}},
        [
            "u_t has dimension time^-1*temperature",
            "α·u_xx has dimension length^-1*time^-1*temperature",
        ],
    ),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("doc", "fragments"), [pytest.param(d, f, id=i) for i, d, f in REFUSED])
def test_a_refused_config_exits_2_before_the_first_step_naming_the_terms(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    doc: dict[str, Any],
    fragments: list[str],
) -> None:
    assert cli(command, write_config(tmp_path, doc, export="m")) == ExitCode.CONFIG
    message = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "ckpt").exists()
    assert not (tmp_path / "models").exists()


def test_checkpoints_of_another_config_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("run", write_config(tmp_path, oscillator(steps=50, lbfgs_steps=0))) == 0
    assert cli("run", write_config(tmp_path, oscillator(steps=50, lbfgs_steps=0, seed=1))) == 2
    assert "holds checkpoints of another config" in capsys.readouterr().err


def test_validate_says_what_would_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("validate", write_config(tmp_path, OSCILLATOR)) == 0
    assert capsys.readouterr().out.startswith("valid: pinn damped_oscillator, 500 steps")
    assert not (tmp_path / "ckpt").exists()


def test_every_example_config_validates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    examples = sorted(
        (Path(__file__).resolve().parents[2] / "examples" / "training").glob("*.yaml")
    )
    assert examples
    for path in examples:
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] == "surrogate":
            continue  # needs its sweep's output first: tests/training/test_surrogate.py
        monkeypatch.setenv("TRAIN_CHECKPOINT_DIR", str(tmp_path / path.stem))
        assert cli("validate", path) == 0, path


def test_the_docs_table_lists_every_environment_variable() -> None:
    import re

    from training.config import TrainSettings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", doc, re.M))
    names = {f"TRAIN_{name}".upper() for name in TrainSettings.model_fields}
    assert names <= rows
    assert rows - names == {"TORCH_THREADS", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"}
