"""The container engine that scripts/image.sh chooses, and a server container run from an image.

scripts/image.sh is the one place that chooses the engine (docker where a daemon answers, else
podman; ``ENGINE`` to choose) and the environment it runs with (podman's CONTAINERS_CONF);
``engine()`` asks it once per process (``scripts/image.sh engine``). It needs this checkout:
scripts/ is not installed with the distribution, and only the benchmarks and the tests run
containers.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.server import STARTUP_SECONDS, wait_ready

__all__ = ["IMAGE_SH", "Container", "Engine", "engine", "image_sh", "run_detached"]

REPO = Path(__file__).resolve().parents[1]
IMAGE_SH = REPO / "scripts" / "image.sh"
SERVE_PORT = 8080  # the port the image serves on (Dockerfile's EXPOSE, the chart's containerPort)


def image_sh(*args: str, timeout: float = 60) -> str:
    """``scripts/image.sh ARGS``; its stdout. RuntimeError with the script's words if it fails."""
    result = subprocess.run(  # noqa: S603 - bash and this checkout's script
        ["bash", str(IMAGE_SH), *args],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"image.sh {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class Engine:
    """The engine's command and what it adds to the environment."""

    name: str
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The engine with ARGS; not checked (callers look at the outcome)."""
        return subprocess.run(  # noqa: S603 - the engine image.sh named, fixed arguments
            [self.name, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check(self, *args: str, timeout: float = 120) -> str:
        """The engine with ARGS; its stdout. RuntimeError with its stderr if it fails."""
        result = self(*args, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


@functools.cache
def engine() -> Engine:
    """The engine scripts/image.sh chooses: its first line names it, the others are
    ``NAME=value`` settings of its environment."""
    name, *settings = image_sh("engine").splitlines()
    return Engine(name, dict(line.split("=", 1) for line in settings if "=" in line))


@dataclass
class Container:
    """A detached container (``run_detached``); ``remove`` ends it."""

    name: str
    port: int | None = None
    """The host port its server port is published on (None: not published)."""
    started: float = 0.0
    """``time.monotonic()`` just before the engine was asked to run it."""

    def url(self, path: str = "") -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} was started without a published port")
        return f"http://127.0.0.1:{self.port}{path}"

    def running(self) -> bool:
        state = engine()("inspect", "--format", "{{.State.Running}}", self.name)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        result = engine()("logs", self.name)
        return result.stdout + result.stderr

    def wait_ready(self, *, timeout: float = STARTUP_SECONDS, interval: float = 0.25) -> float:
        """Seconds from the run until ``/readyz`` answers 200; NotReadyError if the container
        stops first or `timeout` passes."""
        return wait_ready(
            self.url(), started=self.started, timeout=timeout, interval=interval,
            alive=self.running,
        )  # fmt: skip

    def remove(self, grace: int = 5) -> None:
        """Stop it (SIGTERM, SIGKILL after `grace` seconds) and delete it."""
        engine()("rm", "--force", f"--time={grace}", self.name)


def run_detached(
    image: str, *options: str, port: int | None = None, prefix: str = "dimtensor"
) -> Container:
    """``ENGINE run --detach`` of `image` with `options`, its server port published on
    loopback `port` (when given); returns at once (``Container.wait_ready`` waits)."""
    box = Container(name=f"{prefix}-{uuid.uuid4().hex[:10]}", port=port)
    publish = [f"--publish=127.0.0.1:{port}:{SERVE_PORT}"] if port is not None else []
    box.started = time.monotonic()
    engine().check("run", "--detach", f"--name={box.name}", *options, *publish, image)
    return box
