"""PROMETHEUS_MULTIPROC_DIR as operators set it: empty means unset, a missing dir is made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = (
    "from service.models import ModelRepository, default_repository_path\n"
    "from service.rest.app import create_app\n"
    "from service.settings import Settings\n"
    "create_app(Settings(), repository=ModelRepository.load(default_repository_path()))\n"
    "print('ok')\n"
)


def run_python(script: str, cwd: Path, multiproc_dir: str) -> str:
    """Run `script` in a fresh interpreter in `cwd` with that PROMETHEUS_MULTIPROC_DIR;
    its standard output."""
    env = {**os.environ, "HOME": str(cwd), "PROMETHEUS_MULTIPROC_DIR": multiproc_dir}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("value", ["", "   ", "prom/deeper"])
def test_app_starts_and_writes_no_stray_files(tmp_path: Path, value: str):
    out = run_python(SCRIPT, tmp_path, value)
    assert out.strip() == "ok"
    stray = [p.name for p in tmp_path.iterdir() if p.suffix == ".db"]
    assert stray == []  # prometheus_client would put them in the working directory
    if value.strip():
        assert (tmp_path / value).is_dir()


@pytest.mark.parametrize("value", ["", "prom/deeper"])
def test_importing_the_metrics_changes_no_environment(tmp_path: Path, value: str):
    """Only ``create_app`` chooses the storage (``use_storage``), explicitly: importing any
    module of the service leaves ``PROMETHEUS_MULTIPROC_DIR`` and the filesystem alone."""
    script = (
        "import os\n"
        "import service.metrics, service.rest.app, service.gunicorn_conf\n"
        "print(repr(os.environ['PROMETHEUS_MULTIPROC_DIR']))\n"
    )
    assert run_python(script, tmp_path, value).strip() == repr(value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
