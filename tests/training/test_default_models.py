"""The training script reproduces a pendulum surrogate that meets the documented tolerance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from service.models import ModelRepository
from training.default_models import write_pendulum
from training.pendulum import AMPLITUDE_MAX, TOLERANCE, exact_period, train_pendulum

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.default_models", "--out", str(out), *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_script_writes_a_loadable_model_within_tolerance(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pendulum/1: max relative error" in result.stdout
    repo = ModelRepository.load(tmp_path)
    model = repo.get("pendulum", "1")
    manifest = model.manifest
    assert manifest.weights is not None
    assert manifest.weights.sha256 is not None  # the loader verified it
    assert (tmp_path / "pendulum" / "1" / "weights.safetensors").stat().st_mode & 0o044 == 0o044
    theta = np.linspace(-AMPLITUDE_MAX, AMPLITUDE_MAX, 4001)
    length, g = np.full_like(theta, 2.5), np.full_like(theta, 3.7)
    (period,) = model.predict([length, theta, g])
    want = exact_period(length, theta, g)
    assert np.max(np.abs(period - want) / want) < TOLERANCE


def test_script_fails_when_the_tolerance_is_not_met(tmp_path: Path) -> None:
    result = _run(tmp_path, "--steps", "1", "--lbfgs-steps", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (tmp_path / "pendulum" / "1" / "model.yaml").is_file()  # written, for inspection


def test_written_files_are_byte_identical_between_runs(tmp_path: Path) -> None:
    """Same seed, same machine: same bytes, so the committed sha256 is reproducible."""
    write_pendulum(tmp_path / "a", steps=20, lbfgs_steps=5, seed=1)
    write_pendulum(tmp_path / "b", steps=20, lbfgs_steps=5, seed=1)
    for name in ["weights.safetensors", "model.yaml"]:
        a = (tmp_path / "a" / "pendulum" / "1" / name).read_bytes()
        b = (tmp_path / "b" / "pendulum" / "1" / name).read_bytes()
        assert a == b, name


def test_training_is_deterministic_for_a_seed() -> None:
    first, report_a = train_pendulum(steps=30, lbfgs_steps=10, seed=4)
    second, report_b = train_pendulum(steps=30, lbfgs_steps=10, seed=4)
    assert report_a == report_b
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
