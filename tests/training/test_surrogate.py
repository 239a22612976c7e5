"""Sweep -> train -> serve: a surrogate fitted to a batch sweep's Parquet output (units from
its schema), in Buckingham Pi groups found by dimtensor, exported and answering with units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch.cli import main as batch
from jobkit.exits import ExitCode
from service.dataplane import DataPlane, PredictRequest, QuantityIn
from service.models import ModelRepository
from service.units import parse_unit
from tests.support.jobs import TRAINING
from training.surrogate import pi_exponents

cli, write_config = TRAINING.cli, TRAINING.write_config


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The projectile's range over speed, angle and gravity, as dimtensor-batch writes it."""
    folder = tmp_path_factory.mktemp("sweep")
    config = folder / "sweep.yaml"
    config.write_text(
        "kind: sweep\nmodel: projectile\nparameters:\n"
        "  speed: {unit: km/h, linspace: [20, 200, 12]}\n"
        "  angle: {unit: deg, linspace: [5, 85, 33]}\n"
        "  g: {unit: m/s^2, values: [1.62, 3.71, 9.81]}\n"
        f"outputs: {{range: m}}\noutput: {folder / 'out'}\nmerge: true\n"
    )
    assert batch(["run", str(config)]) == 0
    return folder / "out" / "merged.parquet"


def _surrogate(data: Path, architecture: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "surrogate",
        "data": str(data),
        "inputs": ["speed", "angle", "g"],
        "outputs": ["range"],
        "architecture": architecture,
        "steps": 600,
        "lbfgs_steps": 200,
        "batch": 128,
        "network": {"hidden": [32, 32]},
        "checkpoint_every": 200,
        **extra,
    }


def test_pi_groups_and_scales_come_from_dimtensor() -> None:
    units = {"speed": parse_unit("km/h"), "angle": parse_unit("deg"), "g": parse_unit("m/s^2")}
    groups, scales = pi_exponents(units, {"range": parse_unit("m")})
    assert groups == [[0.0, 1.0, 0.0]]  # the angle is the one dimensionless group
    assert scales == [[2.0, 0.0, -1.0]]  # range ~ speed² / g


@pytest.mark.parametrize(("architecture", "tolerance"), [("pi_group_mlp", 0.01), ("mlp", 0.2)])
def test_a_surrogate_of_a_sweep_is_served_with_units(
    tmp_path: Path, sweep: Path, architecture: str, tolerance: float
) -> None:
    config = write_config(tmp_path, _surrogate(sweep, architecture), export="range")
    assert cli("run", config) == 0
    repository = ModelRepository.load(tmp_path / "models")
    model = repository.get("range")
    assert [(s.name, s.unit) for s in model.manifest.inputs] == [
        ("speed", "m*s^-1"),
        ("angle", "1"),
        ("g", "m/s^2"),
    ]
    assert model.manifest.architecture.name == architecture
    plane = DataPlane(repository)
    speeds = np.array([30.0, 60.0, 90.0])  # mph, inside the sweep's 20-200 km/h
    answer = plane.predict(
        PredictRequest(
            {
                "speed": QuantityIn(speeds, "mph"),
                "angle": QuantityIn(np.array([40.0, 40.0, 40.0]), "deg"),
                "g": QuantityIn(9.81, "m/s^2"),
            },
            "range",
            outputs={"range": "ft"},
        )
    )
    v = speeds * 0.44704
    want_ft = v**2 * np.sin(np.radians(80.0)) / 9.81 / 0.3048
    got = answer.outputs["range"].values
    assert np.max(np.abs(got - want_ft) / want_ft) < tolerance


def test_a_dataset_without_units_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"speed": [1.0], "angle": [1.0], "g": [1.0], "range": [1.0]}), data)
    assert cli("run", write_config(tmp_path, _surrogate(data, "mlp"))) == ExitCode.CONFIG
    assert "column 'speed' has no unit in its schema" in capsys.readouterr().err
