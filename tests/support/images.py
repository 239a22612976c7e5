"""The CPU image and containers run from it, for the image tests.

``scripts/image.sh`` builds the image and names the engine (``harness.containers``), and every
container runs with the options ``scripts/image.sh run-options`` prints: the chart's security
settings (test_chart_parity.py holds the two equal). Nothing here skips: a missing engine fails
(``make tools`` installs podman).
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from harness import containers
from harness.containers import Container, run_detached
from harness.ports import free_port
from harness.server import NotReadyError

__all__ = [
    "BUILD_SECONDS",
    "DERIVED_LABEL",
    "JOB_SECONDS",
    "READY_SECONDS",
    "SCRIPT",
    "Container",
    "build_derived",
    "built_image",
    "cpu_image",
    "engine",
    "readable_folder",
    "remove_derived",
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
DERIVED_LABEL = "io.dimtensor.built-by=tests"
"""Marks every stage of an image a test derives from the project's, so that what a build
leaves behind is found and removed (``remove_derived``)."""


def script(*args: str, timeout: float = 60) -> str:
    """``scripts/image.sh ARGS``; its stdout. A failure fails the test with the script's words."""
    try:
        return containers.image_sh(*args, timeout=timeout)
    except RuntimeError as e:
        pytest.fail(str(e))


@functools.cache
@functools.cache
def built_image(variant: str) -> str:
    """The tag of image `variant` (``scripts/image.sh build cpu|gpu|load``), built from this
    checkout once per test process (layers cached by the engine), whichever test asks first."""
    out = script("build", variant, timeout=BUILD_SECONDS)
    tag = script("tag", variant).strip()
    assert f"image: {tag} " in out, out[-2000:]
    return tag


def cpu_image() -> str:
    """The CPU image's tag (:func:`built_image`)."""
    return built_image("cpu")


def build_derived(
    containerfile: Path, context: Path, build_args: Mapping[str, str], name: str
) -> str:
    """An image built from `containerfile` and `context` with `build_args`, tagged
    ``localhost/NAME:<random>`` and labelled ``DERIVED_LABEL``; its tag. Nothing is pulled:
    its base is an image built here."""
    tag = f"localhost/{name}:test-{uuid.uuid4().hex[:10]}"
    podman = ["--pull=never", "--format=docker"] if containers.engine().name == "podman" else []
    args = [f"--build-arg={k}={v}" for k, v in build_args.items()]
    result = engine(
        "build", "-f", str(containerfile), "-t", tag, f"--label={DERIVED_LABEL}",
        *podman, *args, str(context), timeout=BUILD_SECONDS,
    )  # fmt: skip
    if result.returncode != 0:
        remove_derived(tag)
        pytest.fail(f"building {containerfile}:\n{result.stdout[-4000:]}\n{result.stderr}")
    return tag


def remove_derived(tag: str) -> None:
    """Remove the image `tag` and the untagged stages that derived builds left."""
    engine("rmi", "--force", tag)
    engine("image", "prune", "--force", f"--filter=label={DERIVED_LABEL}")


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


def readable_folder(path: Path) -> Path:
    """`path` with every folder and file under it readable by the container's UID (a
    claim's files, in the chart)."""
    for folder, _, files in os.walk(path):
        Path(folder).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o644)
    return path


def writable_folder(path: Path) -> Path:
    """A host folder the container's UID can write (a PVC with fsGroup, in the chart)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path
