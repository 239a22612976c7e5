"""A server and a load generator on this machine: the server pinned to its cores, the
generator's command line.

The server starts through harness/ as the benchmarks and the tests start it: ``python -m
service`` (gunicorn + uvicorn workers) on loopback, with its own HOME, TMPDIR and metrics
folder, ``MODEL_REPOSITORY`` unset (the embedded ``projectile`` and ``pendulum``). With two
or more cores the server and the generator get separate cores (``split_cores``), so that
neither measures the other's work. CPU and memory are read from ``/proc`` (harness.procs,
harness.cpu).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness.ports import free_port
from harness.server import Server, server_env, serving, start

__all__ = ["LOCUSTFILE", "locust_argv", "serve", "split_cores"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ROOT = Path(__file__).resolve().parent.parent


def split_cores(server_cores: int) -> tuple[list[int], list[int]]:
    """(server's cores, generator's cores) out of the cores this process may use. With one
    core both share it."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return cores, cores
    n = max(1, min(server_cores, len(cores) - 1))
    return cores[:n], cores[n:]


@contextmanager
def serve(
    root: Path,
    *,
    workers: int = 1,
    torch_threads: int = 1,
    cores: Sequence[int] | None = None,
    **env: str,
) -> Iterator[Server]:
    """Start the server under `root` (its HOME, TMPDIR, metrics folder and ``server.log``),
    pinned to `cores`, with `torch_threads` torch and OpenMP threads per worker; yield once
    ``/readyz`` answers 200; SIGTERM it at the end."""
    threads = {"TORCH_THREADS": str(torch_threads), "OMP_NUM_THREADS": str(torch_threads)}
    full_env = server_env(root, free_port(), workers=workers, env={**threads, **env})
    started = start(root, full_env, log=root / "server.log", cwd=ROOT, cores=cores or ())
    with serving(started) as server:
        yield server


def locust_argv(url: str, processes: int, *options: str) -> list[str]:
    """Headless Locust over this project's locustfile; `processes` > 1 forks that many
    workers under a master (Locust's ``--processes``)."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", url]
    if processes > 1:
        argv += ["--processes", str(processes)]
    return [*argv, "--loglevel", "WARNING", *options]
