"""Zero dropped requests when the server stops under keep-alive load.

Real gunicorn, 2 workers, 16 httpx clients each holding one keep-alive connection and
posting ``/predict`` back to back; once every client has been answered on its connection,
SIGTERM goes to the master. Every request a client sent is classified from the client's
side, with httpcore's trace of the request (did it open a TCP connection?):

- answered: a response came back (any status other than 200 is listed apart, as bad);
- dropped: sent on a connection the server had already answered on, and the connection
  ended under it (``RemoteProtocolError``, a reset): what must never happen;
- refused: the connection could not be made (the listener is closed): fine;
- lost in the backlog: a new connection that ended before an answer. The kernel resets
  the connections still queued on a listener when the last process closes it; the drain
  takes them first, so there are none: a new connection is either refused or answered.
  Counted apart from drops all the same (the client never held it open), and asserted
  zero, which also catches a worker that cuts the connections it accepted last.

Two loads: the embedded ``projectile`` model (requests of a few milliseconds: many
requests on the wire at the moment of SIGTERM, most connections idle between two of
them) and a slow TorchScript model (a forward pass of the order of 0.1 s on the event
loop: every client has a request in flight, or queued on its connection, when SIGTERM
arrives, and each must be answered). Each load runs several times on fresh servers.

No timing is asserted: the load lasts until a number of answers has come back, the
server's exit is waited for (with a bound that only stops a broken build from hanging),
and the assertions are counts.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from tests.support.bodies import PREDICT
from tests.support.models import torchscript_manifest, write_model
from tests.support.servers import ServerProcess, run_server

pytestmark = pytest.mark.slow

CLIENTS = 16
WORKERS = 2
REPETITIONS = 3
BOUND = 120.0  # seconds: a bound for what must happen, never a measure of speed
SLOW_ROUNDS = 200  # 256x256 matrix products per forward pass (about 0.1 s on one core)


@dataclass
class Tally:
    """What happened to the requests of one client (or of all, summed)."""

    answered: int = 0
    in_flight_at_sigterm: int = 0  # sent before SIGTERM, answered after it
    refused: int = 0
    lost_in_backlog: int = 0
    dropped: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.answered += other.answered
        self.in_flight_at_sigterm += other.in_flight_at_sigterm
        self.refused += other.refused
        self.lost_in_backlog += other.lost_in_backlog
        self.dropped += other.dropped
        self.bad += other.bad

    def line(self) -> str:
        """One line for the test's output and the failure message."""
        return (
            f"answered {self.answered} (in flight at SIGTERM {self.in_flight_at_sigterm}), "
            f"dropped {len(self.dropped)}, bad {len(self.bad)}, refused {self.refused}, "
            f"lost in the backlog {self.lost_in_backlog}"
        )


class KeepAliveClient(threading.Thread):
    """Posts one body back to back on one keep-alive connection (a new one when the
    server closes it) until a new connection cannot be made."""

    def __init__(self, url: str, body: bytes, sigterm: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.body = body
        self.sigterm = sigterm
        self.tally = Tally()
        self.stop = threading.Event()

    def run(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=self.url, timeout=BOUND, limits=limits) as client:
            while not self.stop.is_set() and self._post(client):
                pass

    def _post(self, client: httpx.Client) -> bool:
        """Send one request and classify its fate; False once no connection can be made."""
        connected: list[str] = []

        def trace(event: str, info: dict[str, Any]) -> None:
            if "connect_tcp" in event:
                connected.append(event)

        before_sigterm = not self.sigterm.is_set()
        try:
            answer = client.post(
                "/predict",
                content=self.body,
                headers={"content-type": "application/json"},
                extensions={"trace": trace},
            )
        except httpx.ConnectError:
            self.tally.refused += 1
            return False
        except httpx.TransportError as exc:
            if connected:  # a new connection, reset before a worker took it
                self.tally.lost_in_backlog += 1
                return False
            self.tally.dropped.append(f"{type(exc).__name__}: {exc}")
            return True
        self.tally.answered += 1
        if before_sigterm and self.sigterm.is_set():
            self.tally.in_flight_at_sigterm += 1
        if answer.status_code != 200:
            self.tally.bad.append(f"{answer.status_code}: {answer.text[:200]}")
        return True


def wait_until(condition: Any, what: str) -> None:
    """Wait (bounded) for `condition()`; the clients' progress is the event polled."""
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def stop_under_load(server: ServerProcess, body: bytes, answers_each: int) -> Tally:
    """Start the clients, let each be answered `answers_each` times on its connection,
    SIGTERM the master, wait for it to exit, and sum what the clients saw."""
    sigterm = threading.Event()
    clients = [KeepAliveClient(server.url, body, sigterm) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    try:
        wait_until(
            lambda: all(c.tally.answered >= answers_each for c in clients),
            f"every client answered {answers_each} times",
        )
        sigterm.set()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=BOUND) == 0, server.log_text()
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(timeout=BOUND)
    assert not any(c.is_alive() for c in clients), "a client never finished"
    total = Tally()
    for client in clients:
        total.add(client.tally)
    return total


def check(total: Tally, log: str) -> None:
    print(total.line())  # shown with -s: the counts behind the verdict
    print(*[ln for ln in log.splitlines() if "drained" in ln or "deadline" in ln], sep="\n")
    assert total.dropped == [], total.line() + "\n" + "\n".join(total.dropped[:20])
    assert total.bad == [], total.line() + "\n" + "\n".join(total.bad[:20])
    assert total.lost_in_backlog == 0, total.line()
    assert log.count("drained: ") == WORKERS, log  # each worker went through the drain...
    assert "graceful deadline" not in log  # ...and ended it with no connection left
    for trouble in ("Exception in worker process", "exited with code", "WORKER TIMEOUT", "SIGKILL"):
        assert trouble not in log, log


@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_sigterm_under_keep_alive_load_drops_nothing(tmp_path: Path, repetition: int) -> None:
    with run_server(tmp_path, workers=WORKERS) as server:
        total = stop_under_load(server, PREDICT, answers_each=40)
        log = server.log_text()
    check(total, log)


class _Slow(torch.nn.Module):
    """The toy signature (3 columns in, 2 out) after a fixed amount of arithmetic."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.mix = torch.nn.Parameter(torch.eye(256) * 0.5, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.mix
        for _ in range(self.rounds):
            h = torch.tanh(h @ self.mix)
        return x[:, 1:] + 0.0 * h.sum()


@pytest.fixture(scope="module")
def slow_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trusted repository with one model, ``slow``, whose forward pass takes a while."""
    root = tmp_path_factory.mktemp("slow-models")
    folder = write_model(root, torchscript_manifest("slow"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript
        torch.jit.save(torch.jit.script(_Slow(SLOW_ROUNDS)), str(folder / "model.pt"))
    return root


SLOW_BODY = (
    b'{"model": "slow", "inputs": {"a": {"value": 1, "unit": "m"},'
    b' "b": {"value": [[2, 3]], "unit": "s"}}}'
)


@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_sigterm_answers_requests_in_flight_on_a_slow_model(
    tmp_path: Path, slow_repository: Path, repetition: int
) -> None:
    with run_server(
        tmp_path,
        workers=WORKERS,
        MODEL_REPOSITORY=str(slow_repository),
        MODEL_REPOSITORY_TRUSTED="true",
        DEFAULT_MODEL="",
    ) as server:
        total = stop_under_load(server, SLOW_BODY, answers_each=1)
        log = server.log_text()
    check(total, log)
    assert total.in_flight_at_sigterm >= 1, total.line()
