"""A real server process: ``python -m service`` (gunicorn + uvicorn workers, what
``dimtensor-serve`` runs) or any command that answers ``GET /readyz``, with its environment,
its output captured, a wait until it is ready, and a stop by SIGTERM.

Every server gets its own directory (``server_env``): HOME, TMPDIR (gunicorn's worker heartbeat
files, anything the app writes to the temporary directory) and PROMETHEUS_MULTIPROC_DIR.
gunicorn empties the metrics directory when it starts: with a shared one, a second server
started while another runs would delete the first one's live files, and both would expose each
other's counts.

The output goes to a log file, or with ``follow=True`` through a pipe that a thread copies into
the log file and into memory, so that a caller can wait for a line as an event
(``Server.wait_for_log``) instead of sleeping. ``follow`` costs the caller a thread that reads
every line: a benchmark leaves it off.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from harness.procs import WAIT_SECONDS, children, tree

__all__ = [
    "SERVE",
    "STARTUP_SECONDS",
    "STOP_SECONDS",
    "NotReadyError",
    "Server",
    "answers_ready",
    "server_env",
    "serving",
    "start",
    "wait_ready",
]

SERVE = (sys.executable, "-m", "service")  # what `make serve` and `dimtensor-serve` run
STARTUP_SECONDS = 120  # a bound for a start on a slow day, never a measure of speed
STOP_SECONDS = 40  # gunicorn's graceful timeout (30 s) and its own exit


class NotReadyError(RuntimeError):
    """The server exited, or did not answer ``/readyz`` with 200 in time."""


def server_env(
    root: Path,
    port: int,
    *,
    workers: int = 1,
    repository: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one server on loopback: this process's, with HOST, PORT,
    WEB_CONCURRENCY, and HOME, TMPDIR and PROMETHEUS_MULTIPROC_DIR in `root` (made here).

    MODEL_REPOSITORY is `repository`; without one it is unset (the embedded default models),
    whatever this process has. `env` wins over all of it (a caller may name its own metrics
    folder or repository)."""
    dirs = {name: root / name for name in ("home", "tmp", "prometheus")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "HOME": str(dirs["home"]),
        "TMPDIR": str(dirs["tmp"]),
        "PROMETHEUS_MULTIPROC_DIR": str(dirs["prometheus"]),
    }
    full.pop("MODEL_REPOSITORY", None)
    if repository is not None:
        full["MODEL_REPOSITORY"] = str(repository)
    return {**full, **(env or {})}


def answers_ready(url: str, *, path: str = "/readyz", timeout: float = 2.0) -> bool:
    """Whether ``GET url+path`` answers 200 now (straight to the address: no proxy)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_ready(
    url: str,
    *,
    started: float | None = None,
    timeout: float = STARTUP_SECONDS,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
    also: Callable[[], bool] | None = None,
) -> float:
    """Seconds from `started` (a ``time.monotonic()``, default now) until ``/readyz`` answers
    200 and `also()` holds (all workers up, say).

    Raises NotReadyError once `alive()` is false (the process or container stopped) or `timeout`
    seconds have passed since `started`."""
    started = time.monotonic() if started is None else started
    while True:
        if alive is not None and not alive():
            raise NotReadyError("it stopped before /readyz answered 200")
        if answers_ready(url) and (also is None or also()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise NotReadyError(f"/readyz did not answer 200 within {timeout:g} s")
        time.sleep(interval)


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
class Server:
    """A running server process (see ``start``)."""

    proc: subprocess.Popen[bytes]
    url: str
    root: Path
    """This server's own directory: ``home/``, ``tmp/``, ``prometheus/``."""
    env: dict[str, str]
    """The environment the server was started with."""
    log: Path | None = None
    cores: list[int] = field(default_factory=list)
    """The cores it is pinned to (none: not pinned)."""
    started: float = 0.0
    """``time.monotonic()`` just before the process started."""
    ready_s: float = 0.0
    """Seconds from the start until ``/readyz`` answered 200 (the cold start)."""
    _pump: _LogPump | None = None
    _sink: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def metrics_dir(self) -> Path:
        """The PROMETHEUS_MULTIPROC_DIR this server's workers write."""
        return Path(self.env["PROMETHEUS_MULTIPROC_DIR"])

    def workers(self) -> set[int]:
        """The master's children: gunicorn's workers (none for a single-process server)."""
        return children(self.proc.pid)

    def pids(self) -> list[int]:
        """The whole process tree, master first."""
        return tree(self.proc.pid)

    def log_text(self) -> str:
        """Everything the server wrote so far (all of it, once the server has exited)."""
        if self._pump is None:
            return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
        if self.proc.poll() is not None:
            self._pump.join(timeout=30)
        return self._pump.text()

    def log_mark(self) -> int:
        """A position in the log: ``wait_for_log(after=mark)`` looks only at later lines."""
        pump = self._followed()
        with pump.changed:
            return len(pump.lines)

    def wait_for_log(self, text: str, *, after: int = 0, timeout: float = WAIT_SECONDS) -> str:
        """The first line (from line `after` on) that contains `text`, waiting for it as it
        is written; TimeoutError, with the whole log, if the server exits or `timeout` passes
        without it."""
        pump = self._followed()
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in pump.lines[after:] if text in line][:1]
            return bool(found) or not pump.is_alive()

        with pump.changed:
            pump.changed.wait_for(seen, timeout=timeout)
        if not found:
            raise TimeoutError(f"no log line with {text!r} after line {after}:\n{self.log_text()}")
        return found[0]

    def _followed(self) -> _LogPump:
        if self._pump is None:
            raise RuntimeError("the server's log is not followed: start it with follow=True")
        return self._pump

    def wait_ready(
        self, *, workers: int = 0, timeout: float = STARTUP_SECONDS, interval: float = 0.1
    ) -> float:
        """Until ``/readyz`` answers 200 and at least `workers` workers run; the seconds since
        the start (also kept as ``ready_s``). NotReadyError if the process exits first or
        `timeout` passes."""
        try:
            self.ready_s = wait_ready(
                self.url,
                started=self.started,
                timeout=timeout,
                interval=interval,
                alive=lambda: self.proc.poll() is None,
                also=(lambda: len(self.workers()) >= workers) if workers else None,
            )
        except NotReadyError as e:
            code = self.proc.poll()
            why = f"exited with {code}" if code is not None else str(e)
            where = f"; see {self.log}" if self.log else ""
            raise NotReadyError(f"the server {why}{where}") from None
        return self.ready_s

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM (gunicorn's graceful stop), wait up to `timeout`, then SIGKILL; the exit
        code. Closes the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pump is not None:
            self._pump.join(timeout=30)
        for stream in (self.proc.stdout, self._sink):
            if stream is not None:
                stream.close()
        return self.proc.returncode


def start(
    root: Path,
    env: Mapping[str, str],
    *,
    argv: Sequence[str] = SERVE,
    log: Path | None = None,
    follow: bool = False,
    cwd: Path | None = None,
    cores: Sequence[int] = (),
) -> Server:
    """Start `argv` with exactly `env` (``server_env``'s, usually), its url on loopback at
    ``env["PORT"]``; returns at once (``Server.wait_ready`` waits).

    The output goes to `log` (nowhere without one), through a followed pipe with `follow`.
    `cores`: the CPU affinity of the server and every process it forks."""
    pinned = list(cores)
    sink = log.open("wb") if log is not None and not follow else None
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - the caller's argv, no shell
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE if follow else (sink or subprocess.DEVNULL),
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None,
    )
    pump = None
    if proc.stdout is not None:  # follow: the pipe
        pump = _LogPump(proc.stdout, log or root / "server.log")
        pump.start()
    url = f"http://127.0.0.1:{env['PORT']}"
    return Server(
        proc,
        url,
        root,
        dict(env),
        log=pump.log if pump else log,
        cores=pinned,
        started=started,
        _pump=pump,
        _sink=sink,
    )


@contextmanager
def serving(
    server: Server,
    *,
    workers: int = 0,
    timeout: float = STARTUP_SECONDS,
    interval: float = 0.1,
    stop_timeout: float = STOP_SECONDS,
) -> Iterator[Server]:
    """`server` (just ``start``-ed), yielded once ready (``Server.wait_ready(workers=...)``),
    stopped at the end whatever happens in between."""
    try:
        server.wait_ready(workers=workers, timeout=timeout, interval=interval)
        yield server
    finally:
        server.stop(stop_timeout)
