"""The batch tests' fixtures: the benchmark MLPs as a model repository, the CLI pointed at
it, and an environment with no BATCH_* variable from the caller's shell. The CLI runners and
configs are in tests/support/jobs.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.models import write_repository


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
