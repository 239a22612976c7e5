"""The training tests' fixture: an environment with no TRAIN_*, MLFLOW_* or torchrun variable
from the caller's shell. The CLI runners and configs are in tests/support/jobs.py."""

from __future__ import annotations

import os

import pytest


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
