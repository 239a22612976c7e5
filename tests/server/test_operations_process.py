"""The operations layer through real gunicorn workers, over raw sockets.

What only a real process shows: a retiring worker (MAX_REQUESTS) tells the clients on its
open connections to close (``Connection: close``) on the answers that begin once it
retires, in-flight ones included, and not before; refusals over the wire carry
``X-Request-ID``, reach the access log and the aggregated ``/metrics``, and the 413 by
Content-Length comes before the client sent a byte of body; a Content-Length that is not
a number gets a 400 (the HTTP parser) or a 413 (the app), never a 500, and the worker
lives on. The in-process side of the same promises is tests/rest/test_operations_promises.py.

Sockets, not an HTTP client library: the tests need to send half a request, hold it, and
send headers no client library would (``Content-Length: abc``). Every wait is for an event
(a log line, an answer, a process exit) with a bound; nothing is timed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.procs import wait_exit
from tests.support.bodies import INFER, NOT_A_LENGTH, PREDICT
from tests.support.servers import ServerProcess, run_server

pytestmark = pytest.mark.slow

KEY = "ops-key"
SOCKET_SECONDS = 60  # a bound for an answer that must come, never a measure of speed


# --------------------------------------------------------------------------- a raw client


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def closes(self) -> bool:
        """The answer asks the client to close the connection."""
        tokens = self.headers.get("connection", "").lower().split(",")
        return "close" in (t.strip() for t in tokens)


class Wire:
    """One HTTP/1.1 connection on a raw socket: send any bytes, read one answer at a time
    (framed by its Content-Length, or by the connection's end)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=SOCKET_SECONDS)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before an answer: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:  # delimited by the close (h11's 400, say)
            assert "transfer-encoding" not in headers, headers
            while self._fill():
                pass
            headers["connection"] = headers.get("connection", "close")
            body, self.buffer = self.buffer, b""
            return Answer(int(status_line.split()[1]), headers, body)
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside an answer's body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def exchange(self, request: bytes) -> Answer:
        self.send(request)
        return self.answer()

    def closed_by_server(self) -> bool:
        """True when the server closed the connection (and sent nothing more)."""
        return not self.buffer and not self._fill()


@pytest.fixture
def wires() -> Iterator[list[Wire]]:
    """Connections a test opens, closed at its end whatever happens."""
    opened: list[Wire] = []
    yield opened
    for wire in opened:
        wire.close()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    """A request's head; the body (if any) is the test's to send."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get(path: str, request_id: str) -> bytes:
    return head("GET", path, {"X-API-Key": KEY, "X-Request-ID": request_id})


def access_line(server: ServerProcess, request_id: str, mark: int) -> dict[str, object]:
    """The access line of `request_id`, waited for as it is written (after log line
    `mark`); exactly one."""
    server.wait_for_log(f'"request_id":"{request_id}"', after=mark)
    lines: list[dict[str, object]] = [
        json.loads(line)
        for line in server.log_text().splitlines()
        if line.startswith("{") and f'"request_id":"{request_id}"' in line
    ]
    lines = [e for e in lines if e["logger"] == "service.access"]
    assert len(lines) == 1, lines
    return lines[0]


def requests_counted(server: ServerProcess) -> dict[tuple[str, str, str], float]:
    """``http_requests_total`` as {(method, status, handler): count}, aggregated over the
    workers' files (the answering worker flushes its own first)."""
    r = httpx.get(server.url + "/metrics", headers={"connection": "close"}, timeout=30)
    assert r.status_code == 200, r.text
    return {
        (s.labels["method"], s.labels["status"], s.labels["handler"]): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == "http_requests_total"
    }


# --------------------------------------------------------------------------- retiring workers

QUOTA = 8


def test_a_retiring_worker_answers_with_connection_close_on_its_open_connections(
    tmp_path: Path, wires: list[Wire]
) -> None:
    """One worker, MAX_REQUESTS=8, no jitter. uvicorn counts a request when its response
    is complete, so the answer that completes the quota has already gone out when the
    worker notices it; the promise is about every answer that starts after that:

    - ``held``: a request in flight across the retirement (its body held back);
    - ``keep``: an idle keep-alive connection that sends another request afterwards.

    Both get ``Connection: close`` and are closed by the server; answers before the quota
    keep the connection; the worker then exits and its replacement keeps connections again.
    KEEPALIVE, DRAIN_IDLE_SECONDS and GRACEFUL_TIMEOUT are long so the retiring worker
    keeps ``keep`` open (idle) and does not reach its deadline while the test talks to it.
    """
    with run_server(
        tmp_path,
        workers=1,
        MAX_REQUESTS=str(QUOTA),
        MAX_REQUESTS_JITTER="0",
        KEEPALIVE="60",
        DRAIN_IDLE_SECONDS="60",
        GRACEFUL_TIMEOUT="120",
        REQUEST_TIMEOUT="300",
        ACCESS_LOG_FLUSH_SECONDS="0",
    ) as server:
        (worker,) = server.workers()
        mark = server.log_mark()
        held = Wire(server.url)
        wires.append(held)
        half = len(PREDICT) // 2
        predict_head = {"Content-Type": "application/json", "X-Request-ID": "held"}
        predict_head["Content-Length"] = str(len(PREDICT))
        held.send(head("POST", "/predict", predict_head) + PREDICT[:half])
        keep = Wire(server.url)
        wires.append(keep)
        before = [keep.exchange(get("/v1/models", "keep-0"))]
        # Every answer so far is in the log once keep-0's line is (one event loop, in order).
        access_line(server, "keep-0", mark)
        served = sum('"logger":"service.access"' in line for line in server.log_text().splitlines())
        assert served < QUOTA, f"{served} requests served before the test began"
        for i in range(1, QUOTA - served + 1):
            before.append(keep.exchange(get("/v1/models", f"keep-{i}")))
        assert [a.status for a in before] == [200] * len(before)
        assert not any(a.closes() for a in before)  # under its quota a worker keeps connections

        server.wait_for_log("retiring once open connections close", after=mark)
        after = keep.exchange(get("/v1/models", "keep-after"))
        assert (after.status, after.headers["x-request-id"]) == (200, "keep-after")
        assert after.closes()
        assert keep.closed_by_server()

        held.send(PREDICT[half:])
        answer = held.answer()
        assert (answer.status, answer.headers["x-request-id"]) == (200, "held"), answer.body
        assert answer.closes()
        assert held.closed_by_server()

        # With its connections gone the worker exits; the new one keeps connections again.
        assert wait_exit(worker), "the retiring worker did not exit"
        fresh = Wire(server.url)
        wires.append(fresh)
        first = fresh.exchange(get("/v1/models", "fresh"))
        assert first.status == 200
        assert not first.closes()
        assert server.workers()
        assert worker not in server.workers()
        assert server.log_text().count("retiring once open connections close") == 1


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker with auth on, a 2 KiB body limit and a 2 s request deadline; access lines
    written as each request ends."""
    with run_server(
        tmp_path_factory.mktemp("ops"),
        workers=1,
        AUTH_ENABLED="true",
        API_KEYS=KEY,
        MAX_BODY_BYTES="2048",
        REQUEST_TIMEOUT="2",
        ACCESS_LOG_FLUSH_SECONDS="0",
    ) as server:
        yield server


@dataclass(frozen=True)
class Door:
    path: str
    handler: str
    protocol: str
    body: bytes

    def __str__(self) -> str:
        return self.path


DOORS = [
    Door("/predict", "/predict", "native", PREDICT),
    Door("/v2/models/projectile/infer", "/v2/models/{model_name}/infer", "v2", INFER),
]


def no_key(door: Door, rid: str) -> bytes:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(door.body))}
    return head("POST", door.path, {**headers, "X-Request-ID": rid}) + door.body


def declared_too_large(door: Door, rid: str) -> bytes:
    """A head that declares a gigabyte and no body at all: the answer must come anyway."""
    headers = {"X-API-Key": KEY, "Content-Type": "application/json", "Content-Length": "1000000000"}
    return head("POST", door.path, {**headers, "X-Request-ID": rid})


def chunked_too_large(door: Door, rid: str) -> bytes:
    """Three 1 KiB chunks, past the 2 KiB limit, and no last chunk."""
    headers = {"X-API-Key": KEY, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    chunk = b"400\r\n" + b" " * 0x400 + b"\r\n"
    return head("POST", door.path, {**headers, "X-Request-ID": rid}) + chunk * 3


def stalled(door: Door, rid: str) -> bytes:
    """Half the declared body, then nothing: only the deadline can end it."""
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    headers["Content-Length"] = str(len(door.body))
    return head("POST", door.path, {**headers, "X-Request-ID": rid}) + door.body[:10]


REFUSALS = {
    "no-key": (no_key, 401, "unauthorized"),
    "too-large-declared": (declared_too_large, 413, "body-too-large"),
    "too-large-chunked": (chunked_too_large, 413, "body-too-large"),
    "timed-out": (stalled, 504, "request-timeout"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("door", DOORS, ids=str)
def test_a_refusal_over_the_wire_carries_the_request_id_and_is_logged_and_counted(
    guarded: ServerProcess, wires: list[Wire], door: Door, refusal: str
) -> None:
    build, status, kind = REFUSALS[refusal]
    rid = f"wire-{refusal}-{door.protocol}"
    before = requests_counted(guarded)
    mark = guarded.log_mark()
    wire = Wire(guarded.url)
    wires.append(wire)
    answer = wire.exchange(build(door, rid))
    assert answer.status == status, answer.body
    assert answer.headers["x-request-id"] == rid
    body = json.loads(answer.body)
    if door.protocol == "v2":
        assert answer.headers["content-type"] == "application/json"
        assert set(body) == {"error"}
    else:
        assert answer.headers["content-type"] == "application/problem+json"
        assert body["type"] == f"/problems/{kind}"
    line = access_line(guarded, rid, mark)
    assert (line["path"], line["status"]) == (door.path, status)
    after = requests_counted(guarded)
    key = ("POST", str(status), door.handler)
    grown = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    assert grown == {key: 1.0}


# --------------------------------------------------------------------------- Content-Length

OVER_THE_WIRE = [v for v in NOT_A_LENGTH if v != b"1,1"]


@pytest.mark.parametrize("declared", OVER_THE_WIRE, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("door", DOORS, ids=str)
def test_a_content_length_that_is_not_a_length_never_gets_a_500_and_the_worker_lives(
    guarded: ServerProcess, wires: list[Wire], door: Door, declared: bytes
) -> None:
    """What a client really gets: the HTTP parser's 400 (it never reaches the app, so it
    has no X-Request-ID) or the app's 413 in the door's protocol; either way the
    connection is closed (the body's framing is unknown) and the worker serves on."""
    workers = guarded.workers()
    wire = Wire(guarded.url)
    wires.append(wire)
    headers = f"X-API-Key: {KEY}\r\nX-Request-ID: bad-length\r\n".encode()
    request = (
        f"POST {door.path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n".encode()
        + headers
        + b"Content-Length: "
        + declared
        + b"\r\n\r\n"
        + door.body
    )
    answer = wire.exchange(request)
    assert answer.status in {400, 413}, (answer.status, answer.body)
    if answer.status == 413:
        assert answer.headers["x-request-id"] == "bad-length"
        body = json.loads(answer.body)
        if door.protocol == "v2":
            assert set(body) == {"error"}
        else:
            assert body["type"] == "/problems/body-too-large"
    assert answer.closes()
    assert wire.closed_by_server()
    assert guarded.workers() == workers
    assert httpx.get(guarded.url + "/readyz", timeout=30).status_code == 200
