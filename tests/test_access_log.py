"""The access log: JSON lines in batches that never split a line across writes."""

from __future__ import annotations

import asyncio
import json
import re
import select
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.logs import AccessLog


def fields(i: int = 0, path: str = "/predict") -> dict[str, Any]:
    return {
        "request_id": f"id-{i}",
        "method": "POST",
        "path": path,
        "status": 200,
        "latency_ms": 0.5,
        "model": "pendulum",
        "client": "10.0.0.1",
    }


def test_a_line_has_the_fields_of_a_json_log_record():
    writes: list[bytes] = []
    log = AccessLog(writes.append, flush_interval=60)
    log.line(**fields())
    assert writes == []  # kept until a flush
    log.flush()
    (entry,) = [json.loads(line) for line in b"".join(writes).splitlines()]
    assert entry == {
        **fields(),
        "time": entry["time"],
        "level": "info",
        "logger": "service.access",
        "message": "POST /predict 200",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_zero_interval_writes_each_line_at_once():
    writes: list[bytes] = []
    log = AccessLog(writes.append, flush_interval=0)
    for i in range(3):
        log.line(**fields(i))
        assert len(writes) == i + 1


@given(paths=st.lists(st.text(min_size=0, max_size=600), max_size=60))
def test_batches_stay_within_pipe_buf_and_keep_every_line_whole(paths: list[str]):
    writes: list[bytes] = []
    log = AccessLog(writes.append, flush_interval=3600)
    for i, path in enumerate(paths):
        log.line(**fields(i, path))
    log.flush()
    assert all(len(w) <= select.PIPE_BUF for w in writes)
    assert all(w.endswith(b"\n") for w in writes)  # no line is split between two writes
    entries = [json.loads(line) for w in writes for line in w.splitlines()]
    assert [e["path"] for e in entries] == paths


def test_a_line_longer_than_pipe_buf_is_written_alone():
    writes: list[bytes] = []
    log = AccessLog(writes.append, flush_interval=3600)
    log.line(**fields(0))
    log.line(**fields(1, "/" + "x" * select.PIPE_BUF))
    log.line(**fields(2))
    log.flush()
    assert [len(w.splitlines()) for w in writes] == [1, 1, 1]


@pytest.mark.anyio
async def test_flush_periodically_writes_an_idle_servers_lines():
    writes: list[bytes] = []
    log = AccessLog(writes.append, flush_interval=0.02)
    log._flushed += 3600  # the inline check would not flush
    log.line(**fields())
    task = asyncio.create_task(log.flush_periodically())
    try:
        for _ in range(100):
            if writes:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert b"id-0" in b"".join(writes)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_sink_that_fails_never_fails_the_request():
    def broken(data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    log = AccessLog(broken, flush_interval=0)
    log.line(**fields(0))
    log.line(**fields(1))
    assert log.dropped == 2
