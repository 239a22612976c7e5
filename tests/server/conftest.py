"""Real server processes: ``python -m service`` (gunicorn + uvicorn workers) on loopback.

Every server gets its own directory under the test's tmp path, with its own HOME, TMPDIR
(gunicorn's worker heartbeat files, anything the app writes to the temporary directory)
and PROMETHEUS_MULTIPROC_DIR. gunicorn empties the metrics directory when it starts: with
a shared one, a second server started while another runs would delete the first one's
live files, and both would expose each other's counts.

The server's output (gunicorn's and the app's JSON log lines) goes through a pipe that a
thread copies into the log file and into memory, so a test can wait for a line as an
event (``ServerProcess.wait_for_log``) instead of sleeping. ``paused`` (SIGSTOP) and
``wait_exit`` (a pidfd) are the other barriers on worker processes.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest

STARTUP_SECONDS = 120
LOG_WAIT_SECONDS = 120  # a bound for a line that must come, never a measure of speed


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


def process_state(pid: int) -> str:
    """The one-letter state of a process (R, S, T for stopped, Z...), '' once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@contextmanager
def paused(pids: Iterable[int]) -> Iterator[None]:
    """SIGSTOP `pids` (workers) until the block ends, then SIGCONT them.

    A stopped worker accepts nothing and answers nothing, so every new connection goes to
    the workers left running: the way to choose which worker serves a request. Waits until
    the kernel reports each process stopped (state T) before the block runs."""
    pids = sorted(pids)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            deadline = time.monotonic() + LOG_WAIT_SECONDS
            while process_state(pid) not in {"T", "t", ""}:
                assert time.monotonic() < deadline, f"worker {pid} never stopped"
                time.sleep(0.001)  # polls a kernel state change that is already under way
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def wait_exit(pid: int, timeout: float = LOG_WAIT_SECONDS) -> bool:
    """Block until process `pid` (not necessarily our child) has exited; False on timeout.

    A pidfd becomes readable when the process exits: an event, not a poll."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


class _LogPump(threading.Thread):
    """Copies the server's output into the log file and into memory, line by line, and
    wakes whoever waits for a line."""

    def __init__(self, source: IO[bytes], log: Path) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.log = log
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def run(self) -> None:
        with self.log.open("wb") as out:
            for raw in iter(self.source.readline, b""):
                out.write(raw)
                out.flush()
                with self.changed:
                    self.lines.append(raw.decode(errors="replace"))
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "".join(self.lines)


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    root: Path = field(default=Path())
    """This server's own directory: ``home/``, ``tmp/``, ``prometheus/``."""
    env: dict[str, str] = field(default_factory=dict)
    """The environment the server was started with."""
    _pump: _LogPump | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def metrics_dir(self) -> Path:
        """The PROMETHEUS_MULTIPROC_DIR this server's workers write."""
        return Path(self.env["PROMETHEUS_MULTIPROC_DIR"])

    def workers(self) -> set[int]:
        return children(self.proc.pid)

    def log_text(self) -> str:
        """Everything the server wrote so far (all of it, once the server has exited)."""
        if self._pump is None:
            return self.log.read_text(errors="replace")
        if self.proc.poll() is not None:
            self._pump.join(timeout=30)
        return self._pump.text()

    def log_mark(self) -> int:
        """A position in the log: ``wait_for_log(after=mark)`` looks only at later lines."""
        assert self._pump is not None
        with self._pump.changed:
            return len(self._pump.lines)

    def wait_for_log(self, text: str, *, after: int = 0, timeout: float = LOG_WAIT_SECONDS) -> str:
        """The first line (from line `after` on) that contains `text`, waiting for it as it
        is written; fails if the server exits or `timeout` passes without it."""
        pump = self._pump
        assert pump is not None
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in pump.lines[after:] if text in line][:1]
            return bool(found) or not pump.is_alive()

        with pump.changed:
            pump.changed.wait_for(seen, timeout=timeout)
        if not found:
            pytest.fail(f"no log line with {text!r} after line {after}:\n{self.log_text()}")
        return found[0]


def server_env(root: Path, port: int, workers: int, **env: str) -> dict[str, str]:
    """The environment of one server: loopback, its port, and its own directories."""
    dirs = {name: root / name for name in ("home", "tmp", "prometheus")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "HOME": str(dirs["home"]),
        "TMPDIR": str(dirs["tmp"]),
        "PROMETHEUS_MULTIPROC_DIR": str(dirs["prometheus"]),
        **env,
    }


@contextmanager
def run_server(
    tmp_path: Path, workers: int = 2, *, port: int | None = None, **env: str
) -> Iterator[ServerProcess]:
    """Start the server as `make serve` does and wait until /readyz answers 200.

    `port` defaults to a free one (a test that starts a client first picks it itself).
    Extra keyword arguments are environment variables; they win over the defaults (a test
    may name its own PROMETHEUS_MULTIPROC_DIR, say)."""
    port = port or free_port()
    root = tmp_path / f"server-{port}"
    full_env = server_env(root, port, workers, **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    pump = _LogPump(proc.stdout, tmp_path / f"server-{port}.log")
    pump.start()
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", pump.log, root, full_env, pump)
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
        pump.join(timeout=30)
        proc.stdout.close()


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
