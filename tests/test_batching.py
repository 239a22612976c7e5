"""Micro-batching (service/batching.py) as a specification.

- Batching equals no batching: each request's answer from a stacked forward pass is the
  unbatched answer, bit for bit for analytic models and within float32 GEMM rounding
  (``RTOL``/``ATOL``) for learned ones.
- Concurrent requests share forward passes; a lone request does not wait the window.
- A full queue refuses with 503 + Retry-After, in each door's protocol.
- A failing forward pass fails every request of its batch with the same error.

No assertion here is about speed: machines are shared; the benchmark measures that.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.dataplane import PredictRequest, PredictResult, QuantityIn
from service.errors import ManifestError, OverloadedError
from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings
from tests.support.batching import (
    ATOL,
    RTOL,
    Gate,
    Handed,
    batched,
    gather,
    handed_plane,
    rows,
    same,
    toy,
    toy_repository,
    toy_requests,
    unbatched,
)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> ModelRepository:
    """The projectile, the toy MLP and its twin (toy_repository), once per module."""
    return toy_repository(tmp_path_factory.mktemp("models"))


def projectile(speed: Any, angle: Any) -> PredictRequest:
    return PredictRequest(
        inputs={
            "speed": QuantityIn(speed, "km/h"),
            "angle": QuantityIn(angle, "deg"),
            "g": QuantityIn(9.80665, "m/s^2"),
        },
        model="projectile",
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(toy_requests(), min_size=1, max_size=12))
def test_batching_equals_no_batching_for_a_learned_model(
    repository: ModelRepository, requests: list[PredictRequest]
):
    plain = unbatched(repository)
    expected = [plain.predict(r) for r in requests]
    got = asyncio.run(gather(batched(repository, max_rows=8), requests))
    for g, e in zip(got, expected, strict=True):
        same(g, e, exact=False, model=repository.get("toy"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=st.lists(
        st.builds(projectile, st.floats(1, 300) | rows, st.floats(1, 89)), min_size=1, max_size=10
    )
)
def test_batching_is_exact_for_an_analytic_model(
    repository: ModelRepository, requests: list[PredictRequest]
):
    plain = unbatched(repository)
    expected = [plain.predict(r) for r in requests]
    got = asyncio.run(gather(batched(repository), requests))
    for g, e in zip(got, expected, strict=True):
        same(g, e, exact=True, model=repository.get("projectile"))


@pytest.fixture
def forward_calls(repository: ModelRepository) -> Iterator[list[int]]:
    """Rows of every forward pass of the toy model (a spy on its instance)."""
    model = repository.get("toy")
    calls: list[int] = []
    original = model.predict

    def spy(inputs: Any) -> Any:
        calls.append(len(inputs[0]))
        return original(inputs)

    model.predict = spy  # type: ignore[method-assign]
    yield calls
    del model.predict


@pytest.mark.parametrize(
    ("clients", "max_rows", "most_passes"),
    [
        (8, 64, 1),  # all arrive in one loop turn: one forward pass of 8 rows
        (8, 2, 4),  # max_rows caps each pass
        (1, 64, 1),
    ],
)
def test_concurrent_requests_share_forward_passes(
    repository: ModelRepository,
    forward_calls: list[int],
    clients: int,
    max_rows: int,
    most_passes: int,
):
    requests = [toy(float(i), [1.0, 2.0]) for i in range(clients)]
    asyncio.run(gather(batched(repository, max_rows=max_rows), requests))
    assert sum(forward_calls) == clients
    assert len(forward_calls) <= most_passes
    assert max(forward_calls) <= max_rows


@pytest.mark.parametrize(
    ("inline_below", "thread"),
    [
        (0.0, "forward"),  # every stacked pass in the forward thread, off the event loop
        (3600.0, "MainThread"),  # all shorter than an hour: on the event loop
    ],
)
def test_long_forward_passes_run_off_the_event_loop(
    repository: ModelRepository, inline_below: float, thread: str
):
    model = repository.get("toy")
    original = model.predict
    threads: list[str] = []

    def spy(inputs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(inputs)

    model.predict = spy  # type: ignore[method-assign]
    try:
        plane = batched(repository, inline_below=inline_below)

        async def three_rounds() -> None:
            for _ in range(3):  # the first pass, with no average yet, always takes the thread
                await plane.predict_async(toy(1.0, [1.0, 2.0]))

        asyncio.run(three_rounds())
    finally:
        del model.predict
    assert threads[0].startswith("forward")
    assert all(t.startswith(thread) for t in threads[1:]), threads


def test_a_lone_request_does_not_wait_the_window(repository: ModelRepository):
    # A one-minute window: waiting it would trip wait_for's generous bound.
    plane = batched(repository, max_wait=60.0)

    async def one() -> PredictResult:
        return await asyncio.wait_for(plane.predict_async(toy(1.0, [1.0, 2.0])), timeout=30)

    assert asyncio.run(one()).rows == 1


def test_a_failing_forward_pass_fails_each_request_of_its_batch(repository: ModelRepository):
    model = repository.get("toy")

    def broken(inputs: Any) -> Any:
        raise ManifestError("forward pass returned shape [1], the declared outputs need [3, 2]")

    model.predict = broken  # type: ignore[method-assign]
    try:

        async def run() -> list[Any]:
            plane = batched(repository)
            requests = [toy(float(i), [1.0, 2.0]) for i in range(3)]
            return list(
                await asyncio.gather(
                    *(plane.predict_async(r) for r in requests), return_exceptions=True
                )
            )

        outcomes = asyncio.run(run())
    finally:
        del model.predict
    assert all(isinstance(o, ManifestError) for o in outcomes)


def test_a_full_queue_refuses_at_once(repository: ModelRepository):
    plane, runner = handed_plane(repository, max_rows=1, queue_rows=2)

    def one() -> asyncio.Future[PredictResult]:
        return asyncio.ensure_future(plane.predict_async(toy(1.0, [1.0, 2.0])))

    async def run() -> list[Any]:
        with Gate(repository.get("toy")) as gate:
            tasks = [one()]
            await gate.reached()  # the first is in the (blocked) forward pass
            tasks += [one(), one(), one()]
            await runner.arrivals(4)  # the first's, then three queued or refused
            refused_before_the_gate_opened = [t.done() for t in tasks]
            gate.open.set()
            outcomes = list(await asyncio.gather(*tasks, return_exceptions=True))
            return [refused_before_the_gate_opened, *outcomes]

    done_early, *outcomes = asyncio.run(run())
    assert done_early == [False, False, False, True]  # refused at once, not after a wait
    assert [type(o) for o in outcomes] == [
        PredictResult,
        PredictResult,
        PredictResult,
        OverloadedError,
    ]
    refused = outcomes[3]
    assert isinstance(refused, OverloadedError)
    assert refused.retry_after == 1
    assert refused.message == (
        "model 'toy' has 2 rows waiting, the limit is 2 (BATCH_QUEUE_ROWS); retry after 1 s"
    )


def test_a_request_cancelled_while_queued_is_dropped_and_frees_its_rows(
    repository: ModelRepository,
):
    """The cancelled request's row is given back: afterwards a full ``queue_rows`` of requests
    queues again behind a running pass (a leaked row would refuse the last of them).
    ``inline_below=0``: every pass in the forward thread, so the gate never blocks the loop."""
    plane, runner = handed_plane(repository, max_rows=1, queue_rows=2, inline_below=0.0)

    def one(a: float) -> asyncio.Future[PredictResult]:
        return asyncio.ensure_future(plane.predict_async(toy(a, [1.0, 2.0])))

    async def round_with(gate: Gate, *, cancel_second: bool) -> list[Any]:
        gate.entered.clear()
        gate.open.clear()
        first = one(1.0)
        await gate.reached()  # in the blocked forward pass
        second, third = one(2.0), one(3.0)
        await runner.arrivals(3)
        if cancel_second:
            second.cancel()  # a timeout or a client that went away
        gate.open.set()
        return list(await asyncio.gather(first, second, third, return_exceptions=True))

    async def run() -> tuple[list[Any], list[list[float]], list[Any]]:
        with Gate(repository.get("toy")) as gate:
            with_cancel = await round_with(gate, cancel_second=True)
            forwarded = list(gate.passes)
            after = await round_with(gate, cancel_second=False)
        return with_cancel, forwarded, after

    with_cancel, forwarded, after = asyncio.run(run())
    assert [type(o) for o in with_cancel] == [PredictResult, asyncio.CancelledError, PredictResult]
    assert forwarded == [[1000.0], [3000.0]]  # a = 1 km and 3 km; the cancelled 2 km never ran
    assert [type(o) for o in after] == [PredictResult, PredictResult, PredictResult]


NATIVE = {
    "model": "toy",
    "inputs": {"a": {"value": 1.0, "unit": "m"}, "b": {"value": [1.0, 2.0], "unit": "s"}},
}
OIP = {
    "inputs": [
        {"name": "a", "shape": [1], "datatype": "FP64", "parameters": {"unit": "m"}, "data": [1]},
        {
            "name": "b",
            "shape": [1, 2],
            "datatype": "FP64",
            "parameters": {"unit": "s"},
            "data": [1, 2],
        },
    ]
}


@pytest.mark.parametrize(
    ("path", "body", "check"),
    [
        (
            "/predict",
            NATIVE,
            lambda r: (
                r.json()["type"] == "/problems/overloaded"
                and r.headers["content-type"].startswith("application/problem+json")
            ),
        ),
        ("/v2/models/toy/infer", OIP, lambda r: set(r.json()) == {"error"}),
    ],
)
def test_each_door_sheds_load_with_503_and_retry_after(
    repository: ModelRepository, path: str, body: dict[str, Any], check: Any
):
    app = create_app(
        Settings(batch_enabled=True, batch_max_rows=1, batch_queue_rows=1, default_model="toy"),
        repository=repository,
    )

    plane = app.state.dataplane
    runner = plane.batcher = Handed(plane.batcher)  # the same Batcher, reporting arrivals

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with Gate(repository.get("toy")) as gate:
                first = asyncio.ensure_future(client.post(path, json=body))
                await gate.reached()  # the first is in the blocked forward pass
                second = asyncio.ensure_future(client.post(path, json=body))
                await runner.arrivals(2)  # the first's, then the second queued
                third = asyncio.ensure_future(client.post(path, json=body))
                await runner.arrivals(1)  # refused (or queued) while the queue is full
                gate.open.set()
                return list(await asyncio.gather(first, second, third))

    first, second, third = asyncio.run(run())
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 503, third.text
    assert int(third.headers["retry-after"]) >= 1
    assert check(third)


def test_the_app_answers_the_same_with_and_without_batching(repository: ModelRepository):
    plain = create_app(Settings(default_model="toy"), repository=repository)
    stacked = create_app(Settings(default_model="toy", batch_enabled=True), repository=repository)
    assert plain.state.dataplane.batcher is None
    assert stacked.state.dataplane.batcher is not None

    async def answer(app: Any) -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post("/predict", json=NATIVE)
            assert r.status_code == 200, r.text
            result: dict[str, Any] = r.json()
            return result

    a, b = asyncio.run(answer(plain)), asyncio.run(answer(stacked))
    assert a["outputs"]["out"]["unit"] == b["outputs"]["out"]["unit"]
    assert all(
        math.isclose(x, y, rel_tol=RTOL, abs_tol=ATOL)
        for x, y in zip(a["outputs"]["out"]["value"], b["outputs"]["out"]["value"], strict=True)
    )
