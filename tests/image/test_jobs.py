"""The image's three workloads chained as a user chains them, each in a container run with the
chart's security settings and a mounted volume (the chart's PVC): ``batch`` sweeps the
projectile model into Parquet and merges it, ``train`` fits a surrogate on that Parquet,
checkpoints and exports it into a model repository, and ``serve`` loads the export and answers
what the same export answers outside the image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
import yaml

from tests.support.images import Container, run_job, start_server, stop, writable_folder
from tests.support.paths import REPO
from tests.support.servers import run_server

SWEEP = REPO / "examples" / "batch" / "projectile-sweep.yaml"
DATA = "/data"  # the volume's path inside the containers
ROWS = 10 * 5  # the example's 10 speeds x 5 angles


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return writable_folder(tmp_path_factory.mktemp("volume"))


@pytest.fixture(scope="module")
def sweep(image: str, volume: Path) -> Path:
    """The example sweep run and merged by two containers; the host path of its output."""
    mounts = {SWEEP: "/config/sweep.yaml:ro", volume: DATA}
    env = {"BATCH_OUTPUT": f"{DATA}/sweep"}
    for command in ("run", "merge"):
        result = run_job(image, ["batch", command, "/config/sweep.yaml"], env=env, volumes=mounts)
        assert result.returncode == 0, f"batch {command}:\n{result.stdout}\n{result.stderr}"
    return volume / "sweep"


@pytest.fixture(scope="module")
def trained(image: str, volume: Path, sweep: Path) -> Path:
    """A small surrogate trained on the sweep by a container; the host path of its volume."""
    config = {
        "kind": "surrogate",
        "data": f"{DATA}/sweep/merged.parquet",
        "inputs": ["speed", "angle", "g"],
        "outputs": ["range"],
        "architecture": "pi_group_mlp",
        "steps": 60,
        "lbfgs_steps": 5,
        "batch": ROWS,
        "network": {"hidden": [16, 16]},
        "checkpoint_dir": f"{DATA}/checkpoints",
        "export": {"repository": f"{DATA}/models", "name": "projectile_surrogate"},
    }
    path = volume / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_job(image, ["train", "run", f"{DATA}/train.yaml"], volumes={volume: DATA})
    assert result.returncode == 0, f"train run:\n{result.stdout}\n{result.stderr}"
    return volume


@pytest.fixture(scope="module")
def served_export(image: str, trained: Path) -> Iterator[Container]:
    box = start_server(
        image,
        env={"MODEL_REPOSITORY": "/models", "DEFAULT_MODEL": ""},
        volumes={trained / "models": "/models:ro"},
    )
    yield box
    stop(box)


def test_batch_writes_parquet_with_units_to_the_volume(sweep: Path) -> None:
    parts = sorted(sweep.glob("part-*.parquet"))
    assert parts, sorted(p.name for p in sweep.iterdir())
    assert all(p.with_suffix(".done.json").exists() for p in parts)
    merged = pq.read_table(sweep / "merged.parquet")
    assert merged.num_rows == ROWS
    assert merged.schema.field("range").metadata[b"unit"] == b"m"
    assert merged.schema.field("speed").metadata[b"unit"] == b"km/h"
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["rows"] == ROWS


def test_training_writes_a_checkpoint_and_an_export(trained: Path) -> None:
    checkpoints = sorted((trained / "checkpoints").glob("step-*"))
    assert checkpoints, "no checkpoint"
    assert (checkpoints[-1] / "COMMITTED").exists()
    assert (checkpoints[-1] / "state.pt").exists()
    manifest = yaml.safe_load((trained / "models/projectile_surrogate/1/model.yaml").read_text())
    assert [i["name"] for i in manifest["inputs"]] == ["speed", "angle", "g"]


def test_the_served_container_loads_the_export(
    served_export: Container, trained: Path, tmp_path: Path
) -> None:
    body = {
        "model": "projectile_surrogate",
        "inputs": {
            "speed": {"value": [36, 72], "unit": "km/h"},
            "angle": {"value": [30, 45], "unit": "deg"},
            "g": {"value": 9.81, "unit": "m/s^2"},
        },
        "outputs": {"range": "km"},
    }
    answer = httpx.post(served_export.url("/predict"), json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    with run_server(tmp_path, workers=1, MODEL_REPOSITORY=str(trained / "models")) as host:
        expected = httpx.post(f"{host.url}/predict", json=body, timeout=30)
    assert answer.json() == expected.json()
    assert answer.json()["outputs"]["range"]["unit"] == "km"
