"""The container engine is chosen in one place, ``scripts/image.sh engine``: docker where a
daemon answers, else podman, ``ENGINE`` to choose; podman runs with CONTAINERS_CONF, by default
``.tools/containers.conf`` where scripts/install-tools.sh wrote one. Python callers
(``harness.containers.engine``) read what the script prints. The engines here are stand-ins on
PATH: nothing runs a container."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import containers
from tests.support.paths import REPO

SCRIPT = REPO / "scripts" / "image.sh"
TOOLS_CONF = REPO / ".tools" / "containers.conf"
DEFAULT_CONF = [f"CONTAINERS_CONF={TOOLS_CONF}"] if TOOLS_CONF.is_file() else []


def stand_ins(folder: Path, *, docker: str | None, podman: bool) -> str:
    """A PATH holding only what the engine choice needs: ``dirname``, and stand-in engines
    (``docker`` exiting with `docker`'s code for every command, as ``docker info`` does with
    and without a daemon)."""
    folder.mkdir()
    dirname = shutil.which("dirname")
    assert dirname is not None
    (folder / "dirname").symlink_to(dirname)
    for name, code in (("docker", docker), ("podman", "0" if podman else None)):
        if code is not None:
            (folder / name).write_text(f"#!/bin/sh\nexit {code}\n")
            (folder / name).chmod(0o755)
    return str(folder)


def engine_lines(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT), "engine"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"ENGINE": "docker"}, ["docker"]),
        ({"ENGINE": "docker", "CONTAINERS_CONF": "/etc/mine.conf"}, ["docker"]),
        ({"ENGINE": "podman"}, ["podman", *DEFAULT_CONF]),
        (
            {"ENGINE": "podman", "CONTAINERS_CONF": "/etc/mine.conf"},
            ["podman", "CONTAINERS_CONF=/etc/mine.conf"],
        ),
    ],
)
def test_engine_setting_chooses(setting: dict[str, str], expected: list[str]) -> None:
    base = {k: v for k, v in os.environ.items() if k not in {"ENGINE", "CONTAINERS_CONF"}}
    result = engine_lines({**base, **setting})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


@pytest.mark.parametrize(
    ("docker", "podman", "expected"),
    [
        ("0", True, ["docker"]),  # a daemon answers
        ("1", True, ["podman", *DEFAULT_CONF]),  # docker's CLI, no daemon
        (None, True, ["podman", *DEFAULT_CONF]),
        ("0", False, ["docker"]),
    ],
)
def test_without_a_setting_docker_wins_where_its_daemon_answers(
    tmp_path: Path, docker: str | None, podman: bool, expected: list[str]
) -> None:
    path = stand_ins(tmp_path / "bin", docker=docker, podman=podman)
    result = engine_lines({"PATH": path, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_without_any_engine_the_script_says_what_to_install(tmp_path: Path) -> None:
    path = stand_ins(tmp_path / "bin", docker="1", podman=False)
    result = engine_lines({"PATH": path, "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "neither a docker daemon nor podman is available" in result.stderr
    assert "make tools" in result.stderr


def test_python_callers_run_the_engine_the_script_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE", "podman")
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/mine.conf")
    containers.engine.cache_clear()
    try:
        found = containers.engine()
    finally:
        containers.engine.cache_clear()
    assert found == containers.Engine("podman", {"CONTAINERS_CONF": "/etc/mine.conf"})
