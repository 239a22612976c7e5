"""service.worker: the gunicorn worker's own promises.

In process (unit behaviour): the worker's uvicorn server (``service.worker._Server``, the
class ``Worker`` runs) serves the real app on a loopback socket in a thread, so a test sees
exactly what a client sees. After ``retire_after`` requests, or on SIGTERM (one drain
serves both), it stops accepting (a new connection is refused), answers what arrives on
its open connections with ``Connection: close`` (and not before it stops), closes an idle
connection after the idle grace (a request whose bytes stopped coming is idle too), cuts
what is left at the graceful deadline, and returns from ``serve`` once the last
connection is gone. SIGTERM turns readiness false at once. ``Worker`` itself is built
from a gunicorn config to check what it hands uvicorn: a graceful-shutdown bound a second
under gunicorn's, and no uvicorn request limit (recycling is the worker's own).

With real gunicorn (process behaviour): a worker retires at MAX_REQUESTS (plus its
jitter), a connection made while it retires waits in the shared socket's queue and is
answered by its successor, nothing is dropped, and uvicorn's own abrupt limit never fires.

Barriers are events: the worker's "retiring" log record, a pidfd for a process exit, a
thread join for ``serve`` returning; bounds only stop a broken build from hanging.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from gunicorn.config import Config as GunicornConfig
from gunicorn.glogging import Logger as GunicornLogger

from harness.procs import process_state, wait_exit
from service.lifecycle import is_draining, is_retiring, reset
from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings
from service.worker import Worker, _Server
from tests.support.servers import run_server

BOUND = 60.0  # seconds: a bound for what must happen, never a measure of speed
RETIRING = "retiring once open connections close"
DRAINING = "open connection(s) to drain"


@pytest.fixture(autouse=True)
def fresh_lifecycle() -> Iterator[None]:
    """The drain and retire flags are process-wide: clear them around every test."""
    reset()
    yield
    reset()


# --------------------------------------------------------------------------- in process


class _Retiring(logging.Handler):
    """Sets an event when the worker logs that it retires, another when its drain begins."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()
        self.draining = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if RETIRING in message:
            self.event.set()
        if DRAINING in message:
            self.draining.set()


@dataclass
class InProcess:
    server: _Server
    thread: threading.Thread
    url: str
    retiring: _Retiring

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def exited(self) -> bool:
        """Wait (bounded) for ``serve`` to return; True when it did."""
        self.thread.join(timeout=BOUND)
        return not self.thread.is_alive()


@contextmanager
def serving(
    repo: ModelRepository,
    *,
    retire_after: int | None,
    keep_alive: int,
    idle_grace: float = BOUND,
    graceful: int | None = None,
    http: str = Worker.CONFIG_KWARGS["http"],
) -> Iterator[InProcess]:
    """The worker's server with the real app on a loopback socket, run in a thread.

    The socket listens before the server starts, so a client may connect at once: the
    kernel queues the connection until the app has started (as under gunicorn)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        create_app(Settings(access_log=False), repository=repo),
        lifespan="on",
        log_config=None,
        timeout_keep_alive=keep_alive,
        http=http,
        timeout_graceful_shutdown=graceful,
    )
    server = _Server(config=config, retire_after=retire_after, idle_grace=idle_grace)
    handler = _Retiring()
    logger = logging.getLogger("service.worker")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        yield InProcess(server, thread, url, handler)
    finally:
        server.should_exit = True  # a test that failed half-way still ends the server
        thread.join(timeout=BOUND)
        logger.removeHandler(handler)
        logger.setLevel(level)
        sock.close()


def closes(response: httpx.Response) -> bool:
    return "close" in response.headers.get("connection", "").lower()


def test_retires_after_its_quota_and_closes_kept_connections(
    default_repository: ModelRepository,
) -> None:
    with serving(default_repository, retire_after=3, keep_alive=600) as worker:
        with httpx.Client(timeout=BOUND) as kept:
            first = kept.get(worker.url + "/healthz")
            second = kept.get(worker.url + "/healthz")
            assert (first.status_code, second.status_code) == (200, 200)
            assert not closes(first)  # not retiring yet: the connection is kept
            assert not closes(second)
            assert not is_retiring()
            assert kept.get(worker.url + "/healthz").status_code == 200  # the third
            assert worker.retiring.event.wait(BOUND), worker.retiring.messages
            with pytest.raises(httpx.ConnectError):  # stopped accepting
                httpx.get(worker.url + "/healthz", timeout=BOUND)
            late = kept.get(worker.url + "/healthz")  # the kept connection is still served
            assert late.status_code == 200
            assert closes(late)
            assert is_retiring()
            assert worker.thread.is_alive()  # a connection was open: still serving
        assert worker.exited(), "the retired worker kept running with no connection left"
    assert worker.retiring.messages.count("served 3 requests: " + RETIRING) == 1


def test_never_retires_without_a_quota(default_repository: ModelRepository) -> None:
    """MAX_REQUESTS=0 (no quota): connections are kept however many requests come."""
    with serving(default_repository, retire_after=None, keep_alive=600) as worker:
        with httpx.Client(timeout=BOUND) as kept:
            answers = [kept.get(worker.url + "/healthz") for _ in range(30)]
        assert [a.status_code for a in answers] == [200] * 30
        assert not any(closes(a) for a in answers)
        assert httpx.get(worker.url + "/healthz", timeout=BOUND).status_code == 200
        assert not is_retiring()
        assert worker.thread.is_alive()
    assert not worker.retiring.event.is_set()


STOPS = ["sigterm", "quota"]


def stopped(worker: InProcess, how: str) -> None:
    """Make the worker stop `how` (the quota of 1 is already served), and wait until its
    drain has begun: one drain serves both, and it no longer accepts."""
    if how == "sigterm":
        worker.server.handle_exit(signal.SIGTERM, None)  # what uvicorn calls on SIGTERM
    assert worker.retiring.draining.wait(BOUND), worker.retiring.messages
    with pytest.raises(httpx.ConnectError):
        httpx.get(worker.url + "/healthz", timeout=BOUND)


def quota(how: str) -> int | None:
    return 1 if how == "quota" else None


@pytest.mark.parametrize("http", ["httptools", "h11"])  # what uvicorn's "auto" may pick
@pytest.mark.parametrize("how", STOPS)
def test_an_idle_connection_gets_one_more_answer_then_is_closed(
    default_repository: ModelRepository, how: str, http: str
) -> None:
    """The keep-alive race: uvicorn closed idle keep-alive connections the moment it
    stopped, under a request the client may just have sent. The drain keeps an idle
    connection for the idle grace, answers what comes with ``Connection: close``, closes
    it after that answer, and exits once it is gone (no deadline is set here)."""
    with (
        serving(default_repository, retire_after=quota(how), keep_alive=600, http=http) as worker,
        socket.create_connection(worker.address, timeout=BOUND) as idle,
    ):
        raw_get(idle, "/healthz")
        first = read_answer(idle)
        stopped(worker, how)
        assert worker.thread.is_alive()  # `idle` is open: the worker waits for it
        raw_get(idle, "/healthz")
        last = read_answer(idle)
        assert idle.recv(1) == b""  # closed after the answer
        assert worker.exited(), "the worker kept running with no connection left"
    assert first[0] == 200
    assert "close" not in first[1].get("connection", "")
    assert last[0] == 200
    assert last[1]["connection"] == "close"


@pytest.mark.parametrize("how", STOPS)
def test_an_idle_connection_is_closed_after_the_idle_grace(
    default_repository: ModelRepository, how: str
) -> None:
    """Nothing comes on an idle connection: it is closed, unanswered, once idle for the
    grace, and the worker exits without waiting for a deadline (none is set here)."""
    with (
        serving(
            default_repository, retire_after=quota(how), keep_alive=600, idle_grace=0.2
        ) as worker,
        socket.create_connection(worker.address, timeout=BOUND) as idle,
    ):
        raw_get(idle, "/healthz")
        assert read_answer(idle)[0] == 200
        stopped(worker, how)
        assert worker.exited(), "an idle connection kept the stopping worker"
        assert idle.recv(1) == b""


def test_a_client_that_never_finishes_its_request_is_idle_too(
    default_repository: ModelRepository,
) -> None:
    """A request whose headers stop coming holds no answer back: once its bytes have
    stopped for the idle grace, the connection is closed and the worker exits."""
    with (
        serving(default_repository, retire_after=1, keep_alive=600, idle_grace=0.5) as worker,
        socket.create_connection(worker.address, timeout=BOUND) as stuck,
    ):
        assert httpx.get(worker.url + "/healthz", timeout=BOUND).status_code == 200
        stuck.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # no blank line: unfinished
        assert worker.retiring.event.wait(BOUND)
        assert worker.exited(), "a stuck connection kept the retiring worker forever"
        assert stuck.recv(1024) == b""  # closed unanswered


def test_a_request_that_never_completes_is_cut_at_the_graceful_deadline(
    default_repository: ModelRepository,
) -> None:
    """A request whose body never comes in full is not idle: only the graceful deadline
    (uvicorn's bound, a second under GRACEFUL_TIMEOUT in the worker) ends it."""
    with (
        serving(default_repository, retire_after=None, keep_alive=600, graceful=1) as worker,
        socket.create_connection(worker.address, timeout=BOUND) as held,
    ):
        held.sendall(
            b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        assert httpx.get(worker.url + "/healthz", timeout=BOUND).status_code == 200  # read
        worker.server.handle_exit(signal.SIGTERM, None)
        assert worker.exited(), "a request without an end kept the worker past its deadline"
    assert any("graceful deadline" in m for m in worker.retiring.messages)


def test_sigterm_turns_readiness_false_at_once(default_repository: ModelRepository) -> None:
    with serving(default_repository, retire_after=None, keep_alive=600) as worker:
        assert httpx.get(worker.url + "/readyz", timeout=BOUND).status_code == 200
        assert not is_draining()
        worker.server.handle_exit(signal.SIGTERM, None)  # what uvicorn calls on SIGTERM
        assert is_draining()  # before any tick: readiness is already false
        assert is_retiring()  # and every answer from now on closes its connection
        assert worker.exited()
    assert not worker.retiring.event.is_set()  # draining is not retiring


@contextmanager
def built_worker(**settings: Any) -> Iterator[Worker]:
    """``Worker`` as gunicorn's arbiter builds it before forking (nothing runs)."""
    cfg = GunicornConfig()
    for name, value in settings.items():
        cfg.set(name, value)
    names = ("uvicorn.error", "uvicorn.access")
    saved = {
        n: (lg.handlers[:], lg.level, lg.propagate) for n in names for lg in [logging.getLogger(n)]
    }
    worker = Worker(0, os.getpid(), [], None, cfg.timeout, cfg, GunicornLogger(cfg))
    try:
        yield worker
    finally:
        worker.tmp.close()
        for name, (handlers, level, propagate) in saved.items():  # Worker rewires them
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


@pytest.mark.parametrize(
    ("graceful_timeout", "uvicorn_bound"), [(1, 1), (2, 1), (3, 2), (25, 24), (120, 119)]
)
def test_graceful_shutdown_ends_before_gunicorn_kills(
    graceful_timeout: int, uvicorn_bound: int
) -> None:
    """In-flight requests get GRACEFUL_TIMEOUT - 1 s (at least 1 s), so uvicorn cancels
    them and the worker exits by itself before gunicorn's SIGKILL at GRACEFUL_TIMEOUT."""
    with built_worker(graceful_timeout=graceful_timeout) as worker:
        assert worker.config.timeout_graceful_shutdown == uvicorn_bound


@pytest.mark.parametrize(("max_requests", "jitter"), [(0, 0), (7, 0), (7, 5)])
def test_uvicorns_own_request_limit_is_off(max_requests: int, jitter: int) -> None:
    """uvicorn's limit would exit at once, resetting idle kept connections: the worker
    recycles itself instead (above), so uvicorn is never given a limit."""
    with built_worker(max_requests=max_requests, max_requests_jitter=jitter) as worker:
        assert worker.config.limit_max_requests is None


# --------------------------------------------------------------------------- real gunicorn

MAX_REQUESTS, JITTER = 12, 4


def raw_get(sock: socket.socket, path: str) -> None:
    """Send a keep-alive GET (no Connection header) on a raw socket."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """Status and headers of one answer (bodies here are small JSON with a length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers


@pytest.mark.slow
def test_a_worker_retires_at_max_requests_and_its_successor_takes_the_queue(tmp_path: Path):
    """One worker, so who answers is known: ``held`` (a kept connection) keeps the retiring
    worker alive while a new connection waits in the queue of the socket gunicorn shares
    with the next worker; when ``held`` closes, the worker exits and its successor answers
    the queued request."""
    with (
        run_server(
            tmp_path,
            workers=1,
            MAX_REQUESTS=str(MAX_REQUESTS),
            MAX_REQUESTS_JITTER=str(JITTER),
            KEEPALIVE="600",  # the worker's exit below is its own, not the idle bound's
            DRAIN_IDLE_SECONDS="600",
            GRACEFUL_TIMEOUT="600",
        ) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=BOUND) as held,
    ):
        (old,) = server.workers()
        mark = server.log_mark()
        raw_get(held, "/healthz")
        first = read_answer(held)
        with httpx.Client(timeout=BOUND) as busy:  # requests until one says "close"
            answers = [busy.get(server.url + "/healthz")]
            while not closes(answers[-1]) and len(answers) < 100 * MAX_REQUESTS:
                answers.append(busy.get(server.url + "/healthz"))
        line = server.wait_for_log(RETIRING, after=mark)
        assert process_state(old) not in {"", "Z"}  # `held` is open: still serving it
        with socket.create_connection(("127.0.0.1", server.port), timeout=BOUND) as queued:
            raw_get(queued, "/healthz")  # the retiring worker no longer accepts
            raw_get(held, "/healthz")
            last = read_answer(held)  # the retiring worker answers its kept connection...
            assert "close" in last[1].get("connection", ""), last
            assert held.recv(1) == b""  # ...and closes it
            assert wait_exit(old), "the retired worker did not exit"
            successor = read_answer(queued)
        assert successor[0] == 200
        assert "close" not in successor[1].get("connection", "")  # a worker not retiring
        (new,) = server.workers()
        log = server.log_text()
    served = int(re.search(r"served (\d+) requests", line).group(1))  # type: ignore[union-attr]
    assert MAX_REQUESTS <= served <= MAX_REQUESTS + JITTER  # gunicorn's jitter, then ours
    assert first[0] == 200
    assert "close" not in first[1].get("connection", "")
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert closes(answers[-1])  # the busy connection was told to close, not cut
    assert last[0] == 200
    assert "close" in last[1]["connection"]
    assert new != old
    assert "Maximum request limit" not in log  # uvicorn's own limit never fired
    assert "WORKER TIMEOUT" not in log
    assert "SIGKILL" not in log


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_a_quick_shutdown_drains_instead_of_waiting_for_sigkill(tmp_path: Path, sig: int) -> None:
    """Ctrl-C (SIGINT to the master, as `make serve` and `make image-run` get it) and SIGQUIT:
    gunicorn sends its workers SIGQUIT; each takes the drain and exits by itself, never
    SIGKILLed at GRACEFUL_TIMEOUT (uvicorn_worker's handler left it running until then)."""
    with run_server(tmp_path, workers=2, GRACEFUL_TIMEOUT="60") as server:
        # Both workers' servers up (ready answers as soon as one is): a worker still booting
        # meets SIGQUIT's default action, which is not what this test asks about.
        for seen in range(2):
            lines = server.log_text().splitlines()
            done = [n for n, line in enumerate(lines) if "Application startup complete" in line]
            if len(done) <= seen:
                server.wait_for_log("Application startup complete", after=len(lines))
        mark = server.log_mark()
        server.proc.send_signal(sig)
        server.wait_for_log("not accepting", after=mark)
        assert server.proc.wait(timeout=55) == 0
    log = server.log_text()
    assert "SIGKILL" not in log
    assert log.count("drained:") == 2, log
