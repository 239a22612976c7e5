"""A server and a load generator on this machine: start, pin to cores, watch CPU and memory.

The server starts as ``bench/run.py`` and ``tests/server/conftest.py`` start it: ``python -m
service`` (gunicorn + uvicorn workers) on loopback, with its own HOME, TMPDIR and metrics
folder, ``MODEL_REPOSITORY`` unset (the embedded ``projectile`` and ``pendulum``). With two
or more cores the server and the generator get separate cores (``split_cores``), so that
neither measures the other's work. CPU and memory are read from ``/proc`` (Linux).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LOCUSTFILE",
    "CpuWatch",
    "LocalServer",
    "cpu_seconds",
    "free_port",
    "locust_argv",
    "rss_mib",
    "serve",
    "split_cores",
    "tree",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def split_cores(server_cores: int) -> tuple[list[int], list[int]]:
    """(server's cores, generator's cores) out of the cores this process may use. With one
    core both share it."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return cores, cores
    n = max(1, min(server_cores, len(cores) - 1))
    return cores[:n], cores[n:]


def _stat(pid: int) -> list[str]:
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (gunicorn's master and workers, Locust's processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += parents.get(current, [])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = _stat(pid)
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pids: Sequence[int]) -> float:
    """Resident memory of the processes, summed, in MiB."""
    total = 0
    for pid in pids:
        try:
            for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class CpuWatch:
    """Samples the CPU of a process tree every `interval` seconds in a thread.

    ``busiest()`` is the highest average utilisation (percent of one core) of any single
    process over the watched window, ``total()`` the whole tree's (percent of one core):
    the generator is saturated when one of its processes nears 100 %."""

    root_pid: int
    interval: float = 1.0
    skip: float = 0.0  # seconds ignored at the start (imports, ramp-up)
    samples: list[tuple[float, dict[int, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> CpuWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - started < self.skip:
                continue
            pids = tree(self.root_pid)
            self.samples.append((time.monotonic(), {p: cpu_seconds(p) for p in pids}))

    def per_process(self) -> dict[int, float]:
        """Average percent of one core per process between the first and last sample."""
        if len(self.samples) < 2:
            return {}
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        wall = max(1e-9, t1 - t0)
        return {p: 100 * (last[p] - first[p]) / wall for p in last if p in first}

    def busiest(self) -> float:
        return max(self.per_process().values(), default=0.0)

    def total(self) -> float:
        return sum(self.per_process().values())


@dataclass
class LocalServer:
    """A running ``python -m service``."""

    proc: subprocess.Popen[bytes]
    url: str
    root: Path
    cores: list[int]

    def pids(self) -> list[int]:
        return tree(self.proc.pid)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:  # noqa: S310 - loopback
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def serve(
    root: Path,
    *,
    workers: int = 1,
    torch_threads: int = 1,
    cores: Sequence[int] | None = None,
    **env: str,
) -> Iterator[LocalServer]:
    """Start the server under `root` (its HOME, TMPDIR, metrics folder and log), pinned to
    `cores`; yield once ``/readyz`` answers 200; SIGTERM it at the end."""
    port = free_port()
    dirs = {name: root / name for name in ("home", "tmp", "prometheus")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "TORCH_THREADS": str(torch_threads),
        "OMP_NUM_THREADS": str(torch_threads),
        "HOME": str(dirs["home"]),
        "TMPDIR": str(dirs["tmp"]),
        "PROMETHEUS_MULTIPROC_DIR": str(dirs["prometheus"]),
        **env,
    }
    full_env.pop("MODEL_REPOSITORY", None)
    pinned = list(cores or [])
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None,
    )
    server = LocalServer(proc, f"http://127.0.0.1:{port}", root, pinned)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _ready(server.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready; see {root / 'server.log'}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def locust_argv(url: str, processes: int, *options: str) -> list[str]:
    """Headless Locust over this project's locustfile; `processes` > 1 forks that many
    workers under a master (Locust's ``--processes``)."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", url]
    if processes > 1:
        argv += ["--processes", str(processes)]
    return [*argv, "--loglevel", "WARNING", *options]
