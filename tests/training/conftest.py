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

EXAMPLES = REPO / "examples" / "training"


def example(name: str, **changes: Any) -> dict[str, Any]:
    """An example config (without its paths) with `changes`: small, fast variants."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    for key in ("checkpoint_dir", "export"):
        doc.pop(key, None)
    return {**doc, **changes}


# The example oscillator over 1.5 periods: seconds to train, still inside the PINN's reach.
OSCILLATOR = example(
    "oscillator",
    steps=400,
    lbfgs_steps=100,
    grid=256,
    network={"hidden": [32, 32], "n_features": 8},
    checkpoint_every=50,
    log_every=50,
)
OSCILLATOR["parameters"]["t_end"] = {"value": 4, "unit": "s"}


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
