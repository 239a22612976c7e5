"""Shared pieces of the batch tests: configs written to files, the CLI run in process or as
a real process, and the rows of an output folder read back in order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from batch.cli import main
from bench.models import write_repository

REPO = Path(__file__).resolve().parents[2]

PROJECTILE_SWEEP: dict[str, Any] = {
    "kind": "sweep",
    "model": "projectile",
    "parameters": {
        "speed": {"unit": "km/h", "linspace": [10, 100, 10]},
        "angle": {"unit": "deg", "values": [15, 30, 45, 60, 75]},
        "g": {"unit": "m/s^2", "value": 9.81},
    },
    "outputs": {"range": "m", "flight_time": "s"},
}

MONTE_CARLO: dict[str, Any] = {
    "kind": "montecarlo",
    "model": "projectile",
    "parameters": {
        "speed": {"unit": "m/s", "normal": {"mean": 20, "std": 2}},
        "angle": {"unit": "deg", "uniform": {"low": 20, "high": 70}},
        "g": {"unit": "m/s^2", "lognormal": {"median": 9.81, "sigma": 0.01}},
    },
    "samples": 1000,
    "seed": 42,
}


def write_config(folder: Path, doc: dict[str, Any], *, output: str = "out") -> Path:
    """`doc` as a YAML config in `folder`, writing into `folder/<output>`."""
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump({**doc, "output": str(folder / output)}, sort_keys=False))
    return path


def cli(*args: str | Path) -> int:
    """``dimtensor-batch ARGS`` in this process; its exit code."""
    return main([str(a) for a in args])


def process(
    *args: str | Path, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[str]:
    """``python -m batch ARGS`` as a real process (stderr piped, text)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "batch", *map(str, args)],
        env=full_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def rows_of(folder: Path) -> pa.Table:
    """Every completed part's rows, in shard order, without file metadata."""
    parts = sorted(folder.glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(t.replace_schema_metadata(None) for t in tables)


@pytest.fixture(scope="session")
def mlp_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark MLPs (4 unit-tagged inputs -> energy, power) in a model repository."""
    return write_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture
def mlp_env(monkeypatch: pytest.MonkeyPatch, mlp_repository: Path) -> Path:
    """The batch CLI (and the server settings it reads) pointed at the MLP repository."""
    monkeypatch.setenv("MODEL_REPOSITORY", str(mlp_repository))
    return mlp_repository


@pytest.fixture(autouse=True)
def _clean_batch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BATCH_*/JOB_COMPLETION_INDEX/MODEL_REPOSITORY from the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("BATCH_") or name in ("JOB_COMPLETION_INDEX", "MODEL_REPOSITORY"):
            monkeypatch.delenv(name)
