"""The GPU image on a machine without a GPU: the entrypoint's device rule for real. No GPU and
no fallback: exit 2 with one line saying what it expected and what torch sees. With
``ALLOW_CPU_FALLBACK=true`` the server answers ``/predict`` with units and a training step runs,
both on the CPU."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.images import Container, run_job, start_server, stop, writable_folder
from tests.support.paths import REPO

FALLBACK = {"ALLOW_CPU_FALLBACK": "true"}
DATA = "/data"


@pytest.mark.parametrize("command", [["serve"], ["batch", "--help"], ["train", "--help"]])
def test_without_a_gpu_every_workload_exits_2_with_one_line(image: str, command: list[str]) -> None:
    result = run_job(image, command)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert "image built for cuda" in line, line
    assert "(CUDA 13.0) sees no GPU" in line, line
    assert "set ALLOW_CPU_FALLBACK=true" in line, line


@pytest.fixture(scope="module")
def fallback_server(image: str) -> Iterator[Container]:
    box = start_server(image, env=FALLBACK)
    yield box
    stop(box)


def test_with_the_fallback_the_server_answers_with_units_on_the_cpu(
    fallback_server: Container,
) -> None:
    body = {
        "model": "projectile",
        "inputs": {
            "speed": {"value": 72, "unit": "km/h"},
            "angle": {"value": 45, "unit": "deg"},
            "g": {"value": 9.80665, "unit": "m/s^2"},
        },
        "outputs": {"range": "m"},
    }
    answer = httpx.post(fallback_server.url("/predict"), json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    value = answer.json()["outputs"]["range"]["value"]
    assert math.isclose(value, 20.0**2 / 9.80665, rel_tol=1e-5)
    assert "device: cpu (fallback allowed by ALLOW_CPU_FALLBACK" in fallback_server.logs()


def test_with_the_fallback_a_training_step_runs_on_the_cpu(image: str, tmp_path: Path) -> None:
    volume = writable_folder(tmp_path / "volume")
    config = yaml.safe_load((REPO / "examples/training/oscillator.yaml").read_text())
    config.update(steps=5, checkpoint_dir=f"{DATA}/checkpoints")
    config.pop("export", None)
    (volume / "train.yaml").write_text(yaml.safe_dump(config))
    result = run_job(
        image, ["train", "run", f"{DATA}/train.yaml"], env=FALLBACK, volumes={volume: DATA}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "device: cpu (fallback allowed by ALLOW_CPU_FALLBACK" in result.stderr
    assert sorted((volume / "checkpoints").glob("step-*")), "no checkpoint written"
