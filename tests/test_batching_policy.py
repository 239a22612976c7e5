"""The micro-batcher's policy (service/batching.py), pinned as a specification.

- ``max_wait`` bounds how long a request waits for more arrivals, even while arrivals never
  stop; and under steady arrivals a batch does use its window (it does not leave early).
  The batcher's clock is a fake moved one step per arrival: no wall-clock thresholds.
- A request over ``max_rows`` rows is a forward pass of its own, whole (never split), in
  arrival order; one over ``queue_rows`` is served when nothing waits, refused when
  something does (it could never be served otherwise).
- Each model has its own queue: no forward pass mixes two models' rows, and one model's
  blocked pass and full queue neither delay nor refuse another model's requests.
- Batched answers equal unbatched answers for random interleavings of arrivals over loop
  turns, across two models and random policies (hypothesis).

Requests are told apart inside a forward pass by their input ``a``: request ``i`` sends
``a = i km``, which the model sees as ``1000 i m``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import batching
from service.dataplane import PredictRequest, PredictResult
from service.errors import OverloadedError
from service.models import ModelRepository
from tests.support.batching import (
    Gate,
    batched,
    gather,
    handed_plane,
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


@dataclass(frozen=True, slots=True)
class Pass:
    """One forward pass as the model saw it: when (batcher clock) and whose rows."""

    at: float
    ids: list[int]


@contextmanager
def recorded(
    repository: ModelRepository, *names: str, now: Callable[[], float] = lambda: 0.0
) -> Iterator[dict[str, list[Pass]]]:
    """Each named model's forward passes, in order (a spy on the model instances)."""
    passes: dict[str, list[Pass]] = {name: [] for name in names}
    models = [repository.get(name) for name in names]
    for name, model in zip(names, models, strict=True):
        original = model.predict

        def spy(inputs: Any, name: str = name, original: Any = original) -> Any:
            passes[name].append(Pass(now(), [round(float(x) / 1000) for x in inputs[0]]))
            return original(inputs)

        model.predict = spy  # type: ignore[method-assign]
    try:
        yield passes
    finally:
        for model in models:
            del model.predict


def request(i: int, rows: int = 1, model: str = "toy") -> PredictRequest:
    """Request ``i``: ``rows`` rows (a batch) whose input ``a`` is ``i`` km."""
    return toy([float(i)] * rows, [[1.0, 2.0]] * rows, model=model)


# --- max_wait under steady arrivals ----------------------------------------------------


class FakeClock:
    """Stands in for ``service.batching.time``: the batcher's clock moves only when the
    test moves it, so waits are counted in arrival steps, not measured."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


STEP = 1.0  # the fake clock moves one step per arrival, and one arrival comes per loop turn
ARRIVALS = 40


@pytest.mark.parametrize("max_wait", [0.0, 3.0, 10.0])
def test_max_wait_bounds_the_wait_for_arrivals_that_never_stop(
    repository: ModelRepository, monkeypatch: pytest.MonkeyPatch, max_wait: float
):
    """Every loop turn brings a new request, so collecting never sees a quiet turn: only
    ``max_wait`` closes a batch (``max_rows`` is out of reach). No request waits longer
    than ``max_wait`` plus the one step its dispatcher takes to start, and every batch but
    the last (cut short when arrivals stop) holds its first request at least ``max_wait``.
    """
    clock = FakeClock()
    monkeypatch.setattr(batching, "time", clock)
    plane = batched(repository, max_rows=10_000, max_wait=max_wait, queue_rows=10_000)
    arrived: dict[int, float] = {}

    async def steady() -> None:
        # Warm-up: its forward pass measures 0 s on the fake clock, so later passes run
        # inline and no arrival overlaps a pass: each wait is the collection alone.
        await plane.predict_async(request(-1))
        tasks = []
        for i in range(ARRIVALS):
            clock.now += STEP
            arrived[i] = clock.now
            tasks.append(asyncio.ensure_future(plane.predict_async(request(i))))
            await asyncio.sleep(0)  # the arrival rate (one per loop turn), not a barrier
        await asyncio.gather(*tasks)

    with recorded(repository, "toy", now=lambda: clock.now) as passes:
        asyncio.run(steady())
    steady_passes = passes["toy"][1:]
    waits = [[p.at - arrived[i] for i in p.ids] for p in steady_passes]
    assert sorted(i for p in steady_passes for i in p.ids) == list(range(ARRIVALS))
    assert max(max(w) for w in waits) <= max_wait + STEP, waits
    assert all(max(w) >= max_wait for w in waits[:-1]), waits
    assert len(steady_passes) >= ARRIVALS * STEP / (max_wait + STEP)


# --- oversized requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "passes"),
    [
        # rows of requests 0, 1, 2 (arriving in that order) -> ids of each forward pass
        ([1, 5, 1], [[0], [1] * 5, [2]]),
        ([5, 1, 1], [[0] * 5, [1, 2]]),
        ([1, 1, 5], [[0, 1], [2] * 5]),
        ([2, 3], [[0, 0], [1, 1, 1]]),
        ([3], [[0, 0, 0]]),
    ],
)
def test_a_request_over_max_rows_is_a_forward_pass_of_its_own(
    repository: ModelRepository, rows: list[int], passes: list[list[int]]
):
    """max_rows=2: passes stack requests in arrival order up to 2 rows; a larger request
    is neither split nor refused nor stacked with another. Answers equal unbatched ones."""
    requests = [request(i, n) for i, n in enumerate(rows)]
    with recorded(repository, "toy") as seen:
        got = asyncio.run(gather(batched(repository, max_rows=2), requests))
    assert [p.ids for p in seen["toy"]] == passes
    plain = unbatched(repository)
    for g, r in zip(got, requests, strict=True):
        same(g, plain.predict(r), exact=False, model=repository.get("toy"))


def test_a_request_over_queue_rows_is_served_when_nothing_waits(repository: ModelRepository):
    """queue_rows=4 and a 6-row request: on an empty queue it is served (refusing it would
    refuse it forever); with a request waiting it is refused at once like any overflow."""
    plane, runner = handed_plane(repository, max_rows=2, queue_rows=4, inline_below=0.0)

    async def run() -> tuple[PredictResult, OverloadedError | None]:
        alone = await plane.predict_async(request(7, rows=6))
        refused = None
        with Gate(repository.get("toy")) as gate:
            first = asyncio.ensure_future(plane.predict_async(request(1)))
            await gate.reached()
            waiting = asyncio.ensure_future(plane.predict_async(request(2)))
            await runner.arrivals(3)  # the lone one, the first, the waiting one
            try:
                await plane.predict_async(request(8, rows=6))
            except OverloadedError as exc:
                refused = exc
            gate.open.set()
            await asyncio.gather(first, waiting)
        return alone, refused

    alone, refused = asyncio.run(run())
    assert alone.rows == 6
    assert refused is not None
    assert refused.message == (
        "model 'toy' has 1 rows waiting, the limit is 4 (BATCH_QUEUE_ROWS); retry after 1 s"
    )


# --- per-model queues ------------------------------------------------------------------


def test_two_models_are_never_stacked_together(repository: ModelRepository):
    """Interleaved requests to toy (ids 0-5) and its twin toy2 (ids 10-15), all in one loop
    turn: each model's passes carry only its own rows, every row once."""
    requests = [
        request(i + offset, model=model)
        for i in range(6)
        for offset, model in ((0, "toy"), (10, "toy2"))
    ]
    with recorded(repository, "toy", "toy2") as passes:
        got = asyncio.run(gather(batched(repository), requests))
    assert sorted(i for p in passes["toy"] for i in p.ids) == list(range(6))
    assert sorted(i for p in passes["toy2"] for i in p.ids) == list(range(10, 16))
    plain = unbatched(repository)
    for g, r in zip(got, requests, strict=True):
        assert g.model == r.model
        same(g, plain.predict(r), exact=False, model=repository.get(g.model))


def test_a_blocked_model_neither_delays_nor_refuses_another(repository: ModelRepository):
    """toy's pass is held at a gate and its queue is full (queue_rows=1): a toy2 request is
    still answered, before the gate opens. toy2 is warmed first so its passes run inline:
    a worker has one forward thread, so a threaded toy2 pass would wait for toy's by design
    (service/batching.py); what is per model is the queue, its window and its limit."""
    plane, runner = handed_plane(repository, max_rows=1, queue_rows=1, inline_below=3600.0)

    async def run() -> tuple[PredictResult, bool, OverloadedError | None, list[Any]]:
        await plane.predict_async(request(10, model="toy2"))  # warm: toy2 now runs inline
        refused = None
        with Gate(repository.get("toy")) as gate:
            blocked = asyncio.ensure_future(plane.predict_async(request(1)))
            await gate.reached()  # toy's first pass always takes the thread
            queued = asyncio.ensure_future(plane.predict_async(request(2)))
            await runner.arrivals(3)  # the warm-up, the blocked one, the queued one
            try:
                await plane.predict_async(request(3))
            except OverloadedError as exc:
                refused = exc  # toy's queue really is full
            # A hang guard only (a toy2 request held behind toy's gate would wait for it).
            other = await asyncio.wait_for(plane.predict_async(request(11, model="toy2")), 60)
            answered_while_shut = not gate.open.is_set()
            gate.open.set()
            toys = list(await asyncio.gather(blocked, queued, return_exceptions=True))
        return other, answered_while_shut, refused, toys

    other, answered_while_shut, refused, toys = asyncio.run(run())
    assert answered_while_shut
    assert refused is not None
    assert "model 'toy' has 1 rows waiting" in refused.message
    assert [type(t) for t in toys] == [PredictResult, PredictResult]
    expected = unbatched(repository).predict(request(11, model="toy2"))
    same(other, expected, exact=False, model=repository.get("toy2"))


# --- batched equals unbatched, for any interleaving ------------------------------------


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[PredictRequest, int]:
    """A request to toy or toy2, and the loop turns before the next one arrives."""
    model = draw(st.sampled_from(["toy", "toy2"]))
    return dataclasses.replace(draw(toy_requests()), model=model), draw(st.integers(0, 3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sequence=st.lists(arrivals(), min_size=1, max_size=12),
    max_rows=st.integers(1, 8),
    max_wait=st.sampled_from([0.0, 0.002, 60.0]),
    inline_below=st.sampled_from([0.0, 3600.0]),
)
def test_batched_answers_equal_unbatched_for_any_interleaving(
    repository: ModelRepository,
    sequence: list[tuple[PredictRequest, int]],
    max_rows: int,
    max_wait: float,
    inline_below: float,
):
    """Arrivals spread over loop turns form batches of every shape (split by max_rows,
    cut by quiet turns, mixed row counts, two models): each answer is its unbatched one."""
    plane = batched(repository, max_rows=max_rows, max_wait=max_wait, inline_below=inline_below)

    async def interleaved() -> list[PredictResult]:
        tasks = []
        for req, gap in sequence:
            tasks.append(asyncio.ensure_future(plane.predict_async(req)))
            for _ in range(gap):
                await asyncio.sleep(0)  # the interleaving under test, not a barrier
        return list(await asyncio.gather(*tasks))

    got = asyncio.run(interleaved())
    plain = unbatched(repository)
    for g, (req, _) in zip(got, sequence, strict=True):
        assert req.model is not None
        same(g, plain.predict(req), exact=False, model=repository.get(req.model))
