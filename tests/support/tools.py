"""The installed tools (helm, kubernetes-validate, checkov, yamllint, shellcheck) as the tests
call them: a missing tool fails the test that needs it, it never skips."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.support.paths import REPO, TOOLS

INSTALL_HINT = "run `bash scripts/install-tools.sh` (make test runs it first)"


def tool(relative: str) -> Path:
    """Path of an installed tool under .tools/, failing the test when it is missing."""
    path = TOOLS / relative
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: {INSTALL_HINT}", pytrace=False)
    return path


def run(
    cmd: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output; never raises on a non-zero exit."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
        cwd=cwd or REPO,
        timeout=240,
    )
