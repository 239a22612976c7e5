"""Adaptive micro-batching: concurrent requests to one model share one forward pass.

Why: a forward pass on a small batch costs little more than on one row (the weights
are read once, the per-layer overhead is paid once), so under concurrency stacking
rows multiplies throughput. The core (``DataPlane.predict_async``) hands each prepared
request's arrays here and awaits its own rows back; everything before and after the
forward pass (units, checks, conversions) stays per request in the core.

Policy, per (event loop, model):

- A request joins the model's queue. If no forward pass is running, a dispatcher starts
  and collects: it yields to the event loop while new requests keep arriving (so those
  already read from sockets join), and dispatches as soon as one loop turn brings
  nothing new, the batch holds ``max_rows`` rows, or ``max_wait`` has passed since it
  started collecting. A lone request therefore waits one loop turn, not the window;
  under load batches grow to what arrives during the previous forward pass.
- The stacked forward pass runs in one dedicated thread (torch releases the GIL, so the
  event loop keeps reading and preparing the next requests meanwhile), unless the
  model's stacked forward is shorter on average than ``inline_below`` (default 100 us,
  ``BATCH_INLINE_MS``): then the hop costs more than it buys and it runs inline. On a
  worker confined to one core the thread buys nothing but GIL hand-offs (measured: about
  10 % fewer requests/s than inline for a 1 ms model); raise ``BATCH_INLINE_MS`` there
  if blocking the loop for that long is acceptable.
- Rows come back split in order; an exception in the forward pass fails every request
  of that batch with it. A request over ``max_rows`` rows is a batch of its own.
- The queue is bounded in rows: past ``queue_rows`` waiting rows a request is refused
  with :class:`~service.errors.OverloadedError` (503 + Retry-After) at once, so latency
  cannot grow without limit.

Float32 GEMM kernels may sum in a different order for different batch sizes, so a row's
outputs can differ from the unbatched forward pass in the last bits of float32
(measured: at most a few float32 ulps; tests/test_batching.py pins the tolerance).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.errors import OverloadedError
from service.models import LoadedModel
from service.tensors import FloatArray, ModelArray

__all__ = ["RETRY_AFTER_SECONDS", "BatchPolicy", "Batcher"]

RETRY_AFTER_SECONDS = 1

Outputs = tuple[list[ModelArray], float]


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """The knobs: settings ``BATCH_MAX_ROWS``, ``BATCH_MAX_WAIT_MS``, ``BATCH_QUEUE_ROWS``,
    ``BATCH_INLINE_MS`` (times here in seconds)."""

    max_rows: int = 64
    max_wait: float = 0.002
    queue_rows: int = 1024
    # A thread hop and its wake-up cost tens of microseconds: shorter forwards run inline.
    inline_below: float = 100e-6


@dataclass(slots=True)
class _Item:
    batch: Sequence[FloatArray]
    rows: int
    future: asyncio.Future[Outputs]


@dataclass(slots=True)
class _ModelQueue:
    """One model's waiting requests on one event loop."""

    model: LoadedModel
    loop: asyncio.AbstractEventLoop
    items: deque[_Item] = field(default_factory=deque)
    rows: int = 0
    dispatcher: asyncio.Task[None] | None = None
    forward_seconds: float | None = None  # running average of the stacked forward pass


class Batcher:
    """Micro-batches forward passes per model; a ``ForwardRunner`` for the data plane."""

    def __init__(self, policy: BatchPolicy | None = None) -> None:
        self.policy = policy or BatchPolicy()
        self._queues: dict[tuple[asyncio.AbstractEventLoop, LoadedModel], _ModelQueue] = {}
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, model: LoadedModel, batch: Sequence[FloatArray], rows: int) -> Outputs:
        """Queue one request's arrays; its own output rows and the forward seconds."""
        queue = self._queue(model)
        if queue.items and queue.rows + rows > self.policy.queue_rows:
            raise OverloadedError(
                f"model '{model.name}' has {queue.rows} rows waiting, the limit is "
                f"{self.policy.queue_rows} (BATCH_QUEUE_ROWS); retry after "
                f"{RETRY_AFTER_SECONDS} s",
                model=model.name,
                retry_after=RETRY_AFTER_SECONDS,
            )
        future: asyncio.Future[Outputs] = queue.loop.create_future()
        queue.items.append(_Item(batch, rows, future))
        queue.rows += rows
        if queue.dispatcher is None:
            queue.dispatcher = queue.loop.create_task(self._dispatch(queue))
        return await future

    def _queue(self, model: LoadedModel) -> _ModelQueue:
        loop = asyncio.get_running_loop()
        queue = self._queues.get((loop, model))
        if queue is None:
            for key in [k for k in self._queues if k[0].is_closed()]:
                del self._queues[key]  # apps outlive loops in tests
            queue = self._queues[(loop, model)] = _ModelQueue(model, loop)
        return queue

    async def _dispatch(self, queue: _ModelQueue) -> None:
        try:
            while queue.items:
                await self._collect(queue)
                items = self._take(queue)
                if items:
                    await self._forward(queue, items)
        finally:
            queue.dispatcher = None

    async def _collect(self, queue: _ModelQueue) -> None:
        """Yield while requests keep arriving, up to max_rows or max_wait."""
        deadline = time.perf_counter() + self.policy.max_wait
        seen = -1
        while queue.rows < self.policy.max_rows and time.perf_counter() < deadline:
            if len(queue.items) == seen:
                return
            seen = len(queue.items)
            await asyncio.sleep(0)

    def _take(self, queue: _ModelQueue) -> list[_Item]:
        items: list[_Item] = []
        rows = 0
        while queue.items:
            item = queue.items[0]
            if item.future.done():  # cancelled while waiting (timeout, disconnect)
                queue.items.popleft()
                queue.rows -= item.rows
                continue
            if items and rows + item.rows > self.policy.max_rows:
                break
            queue.items.popleft()
            queue.rows -= item.rows
            items.append(item)
            rows += item.rows
        return items

    async def _forward(self, queue: _ModelQueue, items: list[_Item]) -> None:
        model = queue.model
        inline = (
            queue.forward_seconds is not None and queue.forward_seconds < self.policy.inline_below
        )
        try:
            if len(items) == 1:
                stacked = list(items[0].batch)
            else:
                stacked = [
                    np.concatenate([item.batch[i] for item in items])
                    for i in range(len(items[0].batch))
                ]
            if inline:
                outputs, seconds = _forward(model, stacked)
            else:
                outputs, seconds = await queue.loop.run_in_executor(
                    self._thread(), _forward, model, stacked
                )
        except Exception as exc:  # every request of the batch gets the failure; none hangs
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        average = queue.forward_seconds
        queue.forward_seconds = seconds if average is None else 0.8 * average + 0.2 * seconds
        start = 0
        for item in items:
            end = start + item.rows
            if not item.future.done():
                item.future.set_result(([out[start:end] for out in outputs], seconds))
            start = end

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            # One thread: forward passes of a worker run one at a time, each with the
            # worker's torch threads (TORCH_THREADS).
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        return self._executor


def _forward(model: LoadedModel, stacked: list[FloatArray]) -> Outputs:
    started = time.perf_counter()
    outputs = model.predict(stacked)
    return outputs, time.perf_counter() - started
