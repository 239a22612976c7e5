"""The CPU image, built once per session with ``scripts/image.sh build`` (podman here, on a base
made locally when no registry answers), and containers run from it with the options
``scripts/image.sh run-options`` prints: the chart's security settings (test_chart_parity.py
holds the two equal).

Nothing here skips: a missing podman fails (``make tools`` installs it). The build reuses the
engine's layer cache, so a session with unchanged sources rebuilds in seconds.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.image import engine_env
from tests.server.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "image.sh"
BUILD_SECONDS = 1800  # a bound for a fresh build on a slow day, never a measure of speed
READY_SECONDS = 120
JOB_SECONDS = 600

# Every test here may build the image first (the session fixture): a timeout for that.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + JOB_SECONDS)


def script(*args: str, timeout: float = 60) -> str:
    """``scripts/image.sh ARGS``; its stdout. A failure fails the test with the script's words."""
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"image.sh {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


ENGINE = "podman"


def engine(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The container engine with ARGS (not checked: callers assert on the outcome)."""
    return subprocess.run(
        [ENGINE, *args], env=engine_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def image() -> str:
    """The CPU image's tag, built from this checkout (layers cached by the engine)."""
    out = script("build", "cpu", timeout=BUILD_SECONDS)
    tag = script("tag", "cpu").strip()
    assert f"image: {tag} " in out, out[-2000:]
    return tag


def run_options() -> list[str]:
    """The chart's pod as engine options (read-only root, UID, capabilities, emptyDirs)."""
    return script("run-options").split()


@dataclass
class Container:
    """A detached container; removed by the fixture that made it."""

    name: str
    port: int | None = None

    def logs(self) -> str:
        result = engine("logs", self.name)
        return result.stdout + result.stderr

    def url(self, path: str) -> str:
        assert self.port is not None, "started without a published port"
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self) -> None:
        """Until /readyz answers 200; fails with the container's logs when it never does."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url("/readyz"), timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            state = engine("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
            assert state == "true", f"the container stopped:\n{self.logs()}"
            time.sleep(0.25)
        pytest.fail(f"not ready within {READY_SECONDS} s:\n{self.logs()}")


def volume_options(volumes: Mapping[Path, str]) -> list[str]:
    """``-v host:container[:ro]`` for each volume (``container`` may end in ``:ro``)."""
    return [f"--volume={host}:{inside}" for host, inside in volumes.items()]


def env_options(env: Mapping[str, str]) -> list[str]:
    return [f"--env={k}={v}" for k, v in env.items()]


def start_server(
    image: str, env: Mapping[str, str] | None = None, volumes: Mapping[Path, str] | None = None
) -> Container:
    """The image's default command (serve) with the chart's options on a free port, detached;
    returns once it is ready. ``stop`` removes it."""
    box = Container(name=f"dimtensor-test-{uuid.uuid4().hex[:10]}", port=free_port())
    result = engine(
        "run",
        "--detach",
        f"--name={box.name}",
        *run_options(),
        *env_options(env or {}),
        *volume_options(volumes or {}),
        f"--publish=127.0.0.1:{box.port}:8080",
        image,
    )
    assert result.returncode == 0, result.stderr
    try:
        box.wait_ready()
    except BaseException:
        stop(box)
        raise
    return box


def stop(box: Container) -> None:
    engine("rm", "--force", "--time=5", box.name)


@pytest.fixture(scope="module")
def server(image: str) -> Iterator[Container]:
    """One server container of the image, on the embedded models, for a test module."""
    box = start_server(image)
    yield box
    stop(box)


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
