"""The parts of the operations layer that hold state: deadlines and route names."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.rest.operations import Deadlines, RouteNames

pytestmark = pytest.mark.anyio


async def test_a_deadline_cancels_only_the_request_past_it():
    deadlines = Deadlines(0.05)
    outcomes: dict[str, bool] = {}

    async def request(name: str, seconds: float) -> None:
        task = deadlines.enter()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            outcomes[name] = deadlines.leave(task)
            return
        outcomes[name] = deadlines.leave(task)

    await asyncio.gather(request("slow", 5), request("fast", 0.001))
    assert outcomes == {"slow": True, "fast": False}
    assert not deadlines._due
    assert not deadlines._expired
    await asyncio.sleep(deadlines.tick * 2)
    assert not deadlines._timers  # the sweep stops once nothing is pending


async def test_a_cancel_that_is_not_the_deadline_is_not_taken_for_one():
    deadlines = Deadlines(30)
    entered = asyncio.Event()

    async def request() -> bool:
        task = deadlines.enter()
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return deadlines.leave(task)
        return deadlines.leave(task)

    task = asyncio.create_task(request())
    await entered.wait()
    task.cancel()
    assert await task is False


async def test_the_task_is_usable_after_its_deadline():
    deadlines = Deadlines(0.02)
    task = deadlines.enter()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(5)
    assert deadlines.leave(task)
    await asyncio.sleep(0)  # uncancelled: awaiting works again
    assert task is None or task.cancelling() == 0


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_route_names_are_templates(app: Any):
    names = RouteNames(app)
    assert names(scope("GET", "/v1/models/pendulum")) == "/v1/models/{name}"
    assert names(scope("POST", "/v2/models/pendulum/infer")) == "/v2/models/{model_name}/infer"
    assert names(scope("GET", "/nowhere")) == "none"
    assert names(scope("DELETE", "/predict")) == "/predict"  # a method the route lacks


def test_route_names_are_bounded(app: Any):
    names = RouteNames(app, known={("POST", "/predict"): "/predict"})
    for i in range(5000):
        names(scope("GET", f"/v1/models/m{i}"))
    assert len(names._cache) <= 4096
    assert names._cache[("POST", "/predict")] == "/predict"
