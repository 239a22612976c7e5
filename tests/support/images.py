"""The CPU image and containers run from it, for the image tests.

``scripts/image.sh`` builds the image and names the engine (``harness.containers``), and every
container runs with the options ``scripts/image.sh run-options`` prints: the chart's security
settings (test_chart_parity.py holds the two equal). Nothing here skips: a missing engine fails
(``make tools`` installs podman).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from harness import containers
from harness.containers import Container, run_detached
from harness.ports import free_port
from harness.server import NotReadyError

__all__ = [
    "BUILD_SECONDS",
    "JOB_SECONDS",
    "READY_SECONDS",
    "SCRIPT",
    "Container",
    "engine",
    "run_job",
    "run_options",
    "script",
    "start_server",
    "stop",
    "writable_folder",
]

SCRIPT = containers.IMAGE_SH
BUILD_SECONDS = 1800  # a bound for a fresh build on a slow day, never a measure of speed
READY_SECONDS = 120
JOB_SECONDS = 600


def script(*args: str, timeout: float = 60) -> str:
    """``scripts/image.sh ARGS``; its stdout. A failure fails the test with the script's words."""
    try:
        return containers.image_sh(*args, timeout=timeout)
    except RuntimeError as e:
        pytest.fail(str(e))


def engine(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The container engine scripts/image.sh chooses, with ARGS (not checked: callers assert
    on the outcome)."""
    return containers.engine()(*args, timeout=timeout)


def run_options() -> list[str]:
    """The chart's pod as engine options (read-only root, UID, capabilities, emptyDirs)."""
    return script("run-options").split()


def volume_options(volumes: Mapping[Path, str]) -> list[str]:
    """``-v host:container[:ro]`` for each volume (``container`` may end in ``:ro``)."""
    return [f"--volume={host}:{inside}" for host, inside in volumes.items()]


def env_options(env: Mapping[str, str]) -> list[str]:
    return [f"--env={k}={v}" for k, v in env.items()]


def start_server(
    image: str, env: Mapping[str, str] | None = None, volumes: Mapping[Path, str] | None = None
) -> Container:
    """The image's default command (serve) with the chart's options on a free port, detached;
    returns once it is ready (fails with the container's logs when it never is). ``stop``
    removes it."""
    options = [*run_options(), *env_options(env or {}), *volume_options(volumes or {})]
    try:
        box = run_detached(image, *options, port=free_port(), prefix="dimtensor-test")
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        box.wait_ready(timeout=READY_SECONDS)
    except NotReadyError as e:
        logs = box.logs()
        stop(box)
        pytest.fail(f"{e}:\n{logs}")
    except BaseException:
        stop(box)
        raise
    return box


def stop(box: Container) -> None:
    box.remove(grace=5)


def run_job(
    image: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    volumes: Mapping[Path, str] | None = None,
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """A container run to its end (``--rm``) with the chart's options; its outcome."""
    return engine(
        "run",
        "--rm",
        *run_options(),
        *env_options(env or {}),
        *volume_options(volumes or {}),
        *([f"--entrypoint={entrypoint}"] if entrypoint else []),
        image,
        *args,
        timeout=JOB_SECONDS,
    )


def writable_folder(path: Path) -> Path:
    """A host folder the container's UID can write (a PVC with fsGroup, in the chart)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path
