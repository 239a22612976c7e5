"""Real server processes: ``python -m service`` (gunicorn + uvicorn workers) on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> set[int]:
    """PIDs whose parent is `pid` (gunicorn's workers), read from /proc."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.add(int(entry.name))
    return out


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def workers(self) -> set[int]:
        return children(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def run_server(tmp_path: Path, workers: int = 2, **env: str) -> Iterator[ServerProcess]:
    """Start the server as `make serve` does and wait until /readyz answers 200."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    full_env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "HOME": str(tmp_path),
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service"], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server, workers)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(server: ServerProcess, workers: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited with {server.proc.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200 and (
                len(server.workers()) >= workers
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server not ready after {STARTUP_SECONDS}s:\n{server.log_text()}")
