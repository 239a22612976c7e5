"""examples/custom-model installed into a fresh venv once per session, and the version its
train-and-pack script wrote there (helpers: tests/support/custom_model.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.custom_model import install_example, train_and_pack
from tests.support.venvs import Venv


@pytest.fixture(scope="session")
def example_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv over the project's environment with the example package pip-installed."""
    return install_example(tmp_path_factory.mktemp("custom-model") / "venv")


@pytest.fixture(scope="session")
def packed(example_venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version ``train_and_pack.py`` wrote: ``<repository>/spring/1``."""
    return train_and_pack(example_venv, tmp_path_factory.mktemp("packed") / "models")
