"""Recording metrics: in-process tallies of every series, flushed to prometheus_client.

Why local aggregation: every request records 5 HTTP series and every prediction 3 domain
series. Measured under load on a 2-core machine, prometheus_client in multiprocess mode
(an mmap write and a lock per value) costs ~14 us per request for the HTTP series even
with cached label children, ~16 us for the domain series, and
prometheus-fastapi-instrumentator's middleware ~64 us (Request/Response objects, route
matching, ``labels()`` lookups). Adding to plain dicts costs ~2-3 us in total. So the
record calls (``succeeded``, ``failed``, ``observe_http``) only add to in-process tallies
under one ``threading.Lock``, and ``Metrics.flush()`` applies them to prometheus_client:
inline in a record call once ``flush_interval`` has passed, from
``Metrics.flush_periodically()`` (a task the app runs during its lifespan), on shutdown,
and before every exposition. Consequences: a scrape may miss at most ~``flush_interval``
seconds of *other* workers' counts (the answering worker flushes its own first), and a
worker killed with SIGKILL loses at most that much of its counts. Both are acceptable for
Prometheus scraped every 15-60 s.

Under gunicorn every worker is a process; values reach prometheus_client's multiprocess
files (``service.metrics.exposition`` aggregates them). The series themselves are defined in
``service.metrics.series``; the few writes that need prometheus_client's internals are in
``service.metrics._prometheus``.

Label values never come from client text: a model that does not resolve is "unknown".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary

from service.errors import (
    DimensionMismatchError,
    IncompatibleUnitsError,
    ServiceError,
    UnitError,
)
from service.metrics._prometheus import add_to_histogram, add_to_summary, histogram_bounds
from service.metrics.series import build
from service.models import ModelStatus

__all__ = ["Metrics"]

log = logging.getLogger("service.metrics")

_UNIT_ERRORS = (UnitError, IncompatibleUnitsError, DimensionMismatchError)

LabelKey = tuple[Any, ...]
"""Label values in the metric's label order; prometheus_client's ``labels()`` applies
``str()`` to each, so an HTTP status is kept as its int until the flush."""


class _Tally(Protocol):
    def take(self) -> Any:
        """The pending tallies, replaced by empty ones (called under the record lock)."""

    def apply(self, pending: Any) -> None:
        """Add what ``take`` returned to the prometheus_client series."""


class _CounterTally:
    """Pending increments of one Counter, by label values."""

    __slots__ = ("_children", "metric", "pending")

    def __init__(self, metric: Counter) -> None:
        self.metric = metric
        self.pending: dict[LabelKey, int] = {}
        self._children: dict[LabelKey, Counter] = {}

    def add(self, key: LabelKey, amount: int = 1) -> None:
        pending = self.pending
        pending[key] = pending.get(key, 0) + amount

    def take(self) -> dict[LabelKey, int]:
        pending, self.pending = self.pending, {}
        return pending

    def apply(self, pending: dict[LabelKey, int]) -> None:
        children = self._children
        for key, count in pending.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self.metric.labels(*key)
            child.inc(count)


class _SummaryTally:
    """Pending observations of one Summary: ``[count, sum]`` by label values."""

    __slots__ = ("_children", "metric", "pending")

    def __init__(self, metric: Summary) -> None:
        self.metric = metric
        self.pending: dict[LabelKey, list[float]] = {}
        self._children: dict[LabelKey, Summary] = {}

    def add(self, key: LabelKey, amount: float) -> None:
        cell = self.pending.get(key)
        if cell is None:
            self.pending[key] = [1, amount]
        else:
            cell[0] += 1
            cell[1] += amount

    def take(self) -> dict[LabelKey, list[float]]:
        pending, self.pending = self.pending, {}
        return pending

    def apply(self, pending: dict[LabelKey, list[float]]) -> None:
        children = self._children
        for key, (count, total) in pending.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self.metric.labels(*key)
            add_to_summary(child, count, total)


class _HistogramTally:
    """Pending observations of one Histogram: ``[sum, n_0, ..., n_k]`` by label values,
    where ``n_i`` counts the observations that fell in bucket ``i`` alone.

    prometheus_client stores bucket counts non-cumulatively (it accumulates them when it
    exposes): ``observe(amount)`` increments only the first bucket whose upper bound is
    ``>= amount`` (``amount <= bound``), which ``bisect_left`` on the upper bounds (ending
    with +Inf) finds. NaN is ``<=`` no bound, so like ``observe`` it counts in no bucket
    and only poisons the sum.
    """

    __slots__ = ("_bounds", "_children", "_width", "metric", "pending")

    def __init__(self, metric: Histogram) -> None:
        self.metric = metric
        self._bounds = histogram_bounds(metric)  # ends with +Inf
        self._width = len(self._bounds) + 1
        self.pending: dict[LabelKey, list[float]] = {}
        self._children: dict[LabelKey, Histogram] = {}

    def add(self, key: LabelKey, amount: float) -> None:
        cell = self.pending.get(key)
        if cell is None:
            cell = self.pending[key] = [0.0] * self._width
        cell[0] += amount
        bounds = self._bounds
        i = bisect_left(bounds, amount)
        if i < len(bounds) and amount <= bounds[i]:  # false only for NaN
            cell[i + 1] += 1

    def take(self) -> dict[LabelKey, list[float]]:
        pending, self.pending = self.pending, {}
        return pending

    def apply(self, pending: dict[LabelKey, list[float]]) -> None:
        children = self._children
        for key, cell in pending.items():
            child = children.get(key)
            if child is None:
                # A histogram without labels is its own (only) child.
                child = children[key] = self.metric.labels(*key) if key else self.metric
            add_to_histogram(child, cell[0], cell[1:])


class Metrics:
    """The service's metrics in one registry; a ``PredictObserver``.

    Record calls (``succeeded``, ``failed``, ``observe_http``) add to in-process tallies and
    never call prometheus_client; ``flush()`` applies the tallies (see the module
    docstring for why and when). They are safe to call from any thread: ``predict`` runs
    in worker threads while the event loop records HTTP series.

    Args:
        registry: where the series are registered; default a new one per instance, so
            several apps in one process (tests) do not collide. In multiprocess mode the
            exposition reads every worker's files instead.
        flush_interval: seconds; a record call flushes inline when more than this passed
            since the last flush, and ``flush_periodically`` flushes this often. Pass
            ``math.inf`` to flush only when told to.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, flush_interval: float = 1.0
    ) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
        self.flush_interval = flush_interval
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.series = series = build(self.registry)

        self._lock = threading.Lock()  # guards the tallies' pending dicts
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._flushed_at = time.monotonic()
        self._predictions = _CounterTally(series.predictions)
        self._unit_errors = _CounterTally(series.unit_errors)
        self._outside_domain = _CounterTally(series.outside_domain)
        self._inference = _HistogramTally(series.inference)
        self._rows = _HistogramTally(series.rows)
        self._http_requests = _CounterTally(series.http_requests)
        self._http_request_size = _SummaryTally(series.http_request_size)
        self._http_response_size = _SummaryTally(series.http_response_size)
        self._http_duration_highr = _HistogramTally(series.http_duration_highr)
        self._http_duration = _HistogramTally(series.http_duration)
        self._tallies: tuple[_Tally, ...] = (
            self._predictions,
            self._unit_errors,
            self._outside_domain,
            self._inference,
            self._rows,
            self._http_requests,
            self._http_request_size,
            self._http_response_size,
            self._http_duration_highr,
            self._http_duration,
        )

    def set_models(self, statuses: Iterable[ModelStatus]) -> None:
        """Publish how many model versions loaded and how many failed (directly: rare)."""
        counts = {"ready": 0, "failed": 0}
        for status in statuses:
            counts[status.state] = counts.get(status.state, 0) + 1
        for state, count in counts.items():
            self.series.models.labels(state=state).set(count)

    # PredictObserver
    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        """Tally one answered prediction (counter, forward-pass time, rows)."""
        with self._lock:
            self._predictions.add((model, version, protocol, "ok"))
            self._inference.add((model,), seconds)
            self._rows.add((model,), rows)
        if time.monotonic() - self._flushed_at > self.flush_interval:
            self._flush_if_idle()

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        """Tally one refused prediction, by error kind; unit errors also by themselves."""
        unit_error = isinstance(error, _UNIT_ERRORS)
        with self._lock:
            self._predictions.add((model or "unknown", version or "", protocol, error.kind))
            if unit_error:
                self._unit_errors.add((error.kind,))
        if time.monotonic() - self._flushed_at > self.flush_interval:
            self._flush_if_idle()

    def outside_domain(self, model: str, rows: Mapping[str, int]) -> None:
        """Tally the rows of one request outside the model's validity domain, by input
        (names the manifest declares: never client text)."""
        with self._lock:
            for name, count in rows.items():
                self._outside_domain.add((model, name), count)
        if time.monotonic() - self._flushed_at > self.flush_interval:
            self._flush_if_idle()

    def observe_http(
        self,
        method: str,
        status: int,
        handler: str,
        request_bytes: int,
        response_bytes: int,
        seconds: float,
    ) -> None:
        """Tally one HTTP answer in the 5 HTTP series.

        Args:
            method: the request method, e.g. "GET".
            status: the response status code; exposed as its numeric string ("200").
            handler: the route template (never the raw path: label values must not come
                from client text).
            request_bytes: the request's Content-Length (0 when absent).
            response_bytes: the response's Content-Length (0 when absent).
            seconds: time from receiving the request to the end of the response.
        """
        with self._lock:
            self._http_requests.add((method, status, handler))
            self._http_request_size.add((handler,), request_bytes)
            self._http_response_size.add((handler,), response_bytes)
            self._http_duration_highr.add((), seconds)
            self._http_duration.add((method, handler), seconds)
        if time.monotonic() - self._flushed_at > self.flush_interval:
            self._flush_if_idle()

    def flush(self) -> None:
        """Apply the pending tallies to the prometheus_client series and empty them.

        The tallies are swapped out under the record lock, so recording is blocked only for
        the swap, not while prometheus_client's values are written. Flushing twice in a row
        adds nothing the second time.
        """
        with self._flush_lock:
            self._flush()

    def _flush_if_idle(self) -> None:
        # Inline from a record call: if another thread is flushing, it will do.
        if self._flush_lock.acquire(blocking=False):
            try:
                self._flush()
            except Exception:  # a metrics file that cannot be written never fails a request
                log.exception("metrics: could not write the tallies; they are dropped")
            finally:
                self._flush_lock.release()

    def _flush(self) -> None:
        with self._lock:
            self._flushed_at = time.monotonic()
            taken = [(tally, tally.take()) for tally in self._tallies]
        for tally, pending in taken:
            if pending:
                tally.apply(pending)

    async def flush_periodically(self) -> None:
        """Flush every ``flush_interval`` seconds, forever: run it as a task during the
        app's lifespan (cancel it, then ``flush()``, on shutdown), so that counts reach
        the multiprocess files even while a worker gets no requests."""
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                self.flush()
            except Exception:  # keep flushing: the next interval may succeed
                log.exception("metrics: could not write the tallies; they are dropped")
