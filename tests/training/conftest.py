"""Shared pieces of the training tests: small configs, the CLI in process or as a real
process, and the weights of a run's newest checkpoint."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from training.checkpoints import CheckpointStore
from training.cli import main
from training.config import config_hash, load_config

REPO = Path(__file__).resolve().parents[2]

# A short oscillator: 1.5 periods, seconds to train, still well inside the PINN's reach.
OSCILLATOR: dict[str, Any] = {
    "kind": "pinn",
    "problem": "damped_oscillator",
    "parameters": {
        "mass": {"value": 1.0, "unit": "kg"},
        "damping": {"value": 0.4, "unit": "N*s/m"},
        "stiffness": {"value": 4.0, "unit": "N/m"},
        "x0": {"value": 10, "unit": "cm"},
        "v0": {"value": 0, "unit": "m/s"},
        "t_end": {"value": 4, "unit": "s"},
    },
    "steps": 400,
    "lbfgs_steps": 100,
    "seed": 0,
    "grid": 256,
    "network": {"hidden": [32, 32], "n_features": 8},
    "checkpoint_every": 50,
    "log_every": 50,
}


def oscillator(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(OSCILLATOR)
    doc.update(changes)
    return doc


def write_config(folder: Path, doc: dict[str, Any], *, export: str | None = None) -> Path:
    """`doc` as a YAML config in `folder`, checkpoints in `folder/ckpt`, export optional."""
    folder.mkdir(parents=True, exist_ok=True)
    full = {**doc, "checkpoint_dir": str(folder / "ckpt")}
    if export is not None:
        full["export"] = {"repository": str(folder / "models"), "name": export}
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(full, sort_keys=False))
    return path


def cli(*args: str | Path) -> int:
    """``dimtensor-train ARGS`` in this process; its exit code."""
    return main([str(a) for a in args])


def process(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m training ARGS`` as a real process (stdout and stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "training", *map(str, args)],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def final_weights(config: Path) -> dict[str, torch.Tensor]:
    """The module weights of the newest complete checkpoint of `config`'s run."""
    job = load_config(config)
    latest = CheckpointStore(Path(job.checkpoint_dir), config_hash(job)).latest()
    assert latest is not None
    state: dict[str, torch.Tensor] = latest.load()["module"]
    return state


@pytest.fixture(autouse=True)
def _clean_train_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRAIN_*, MLFLOW_* or torchrun variables from the caller's shell leak in."""
    for name in list(os.environ):
        if name.startswith(("TRAIN_", "MLFLOW_", "PET_")) or name in (
            "WORLD_SIZE",
            "RANK",
            "LOCAL_RANK",
            "MASTER_ADDR",
            "MASTER_PORT",
            "JOB_COMPLETION_INDEX",
        ):
            monkeypatch.delenv(name)
