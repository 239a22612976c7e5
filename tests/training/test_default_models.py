"""The embedded pendulum is the export of a checked-in dimtensor-train config: rerunning it
reproduces the shipped weights byte for byte, within the documented tolerance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from service.models import default_repository_path
from training.default_models import DATA
from training.pendulum import TOLERANCE, exact_period, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = default_repository_path() / "pendulum" / "1"


def test_the_dataset_is_the_exact_formula_and_reproducible(tmp_path: Path) -> None:
    again = write_dataset(tmp_path / "pendulum-period.parquet")
    assert again.read_bytes() == DATA.read_bytes()
    table = pq.read_table(DATA)
    units = {f.name: f.metadata[b"unit"].decode() for f in table.schema}
    assert units == {"length": "m", "amplitude": "rad", "g": "m/s^2", "period": "s"}
    columns = [table[n].to_numpy() for n in ("length", "amplitude", "g")]
    np.testing.assert_array_equal(table["period"].to_numpy(), exact_period(*columns))


@pytest.mark.slow
def test_the_config_reproduces_the_shipped_weights_byte_for_byte(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training.default_models", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    error = float(done.stdout.split("max relative error ")[1].split()[0])
    assert error < TOLERANCE
    for name in ("weights.safetensors", "model.yaml"):
        assert (tmp_path / "pendulum" / "1" / name).read_bytes() == (SHIPPED / name).read_bytes()
