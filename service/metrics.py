"""Prometheus metrics: the HTTP series and the domain's, aggregated locally per process.

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

Under gunicorn every worker is a process, so values go through prometheus_client's
multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (and emptied) by the gunicorn
config in the master before workers fork, dead workers are marked in ``child_exit``,
and ``/metrics`` aggregates every worker's files, so any worker answers the totals.

The HTTP series are prometheus-fastapi-instrumentator's (its ``metrics.default()``: names,
types, labels, buckets and help texts; ``tests/test_metrics_tally.py`` compares them with
the library, a test dependency), recorded by ``service.rest.middleware.Operations``
instead of the library's middleware; the ``handler`` label is the route template, and
health paths and ``/metrics`` are left out, as the app configured the library before.

Label values never come from client text: a model that does not resolve is "unknown".
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol


def _normalize_multiprocess_env() -> None:
    """Read ``PROMETHEUS_MULTIPROC_DIR`` the way an operator means it, before
    prometheus_client looks at it (it decides its storage when first imported): empty means
    unset (prometheus_client would write its files into the working directory), and a named
    directory is created if missing."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if value is None:
        return
    if not value.strip():
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    else:
        Path(value).mkdir(parents=True, exist_ok=True)


_normalize_multiprocess_env()

from fastapi import FastAPI, Request, Response  # noqa: E402 - after the environment is normalized
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
    multiprocess,
)

from service.errors import (  # noqa: E402
    DimensionMismatchError,
    IncompatibleUnitsError,
    ServiceError,
    UnitError,
)
from service.models import ModelStatus  # noqa: E402

__all__ = [
    "DURATION_BUCKETS",
    "DURATION_HIGHR_BUCKETS",
    "INFERENCE_BUCKETS",
    "METRIC_NAMES",
    "ROWS_BUCKETS",
    "Metrics",
    "mark_process_dead",
    "mount_metrics",
    "multiprocess_dir",
    "render",
]

INF = float("inf")
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
# prometheus-fastapi-instrumentator 8.1.0's defaults (``latency_highr_buckets`` and
# ``latency_lowr_buckets``); prometheus_client appends +Inf.
DURATION_HIGHR_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60,
)  # fmt: skip
DURATION_BUCKETS = (0.1, 0.5, 1)

# Every series the service exports (dashboards and alerts are tested against this list).
METRIC_NAMES = (
    "dimtensor_predictions_total",
    "dimtensor_unit_errors_total",
    "dimtensor_inference_duration_seconds",
    "dimtensor_request_rows",
    "dimtensor_models",
    "http_requests_total",
    "http_request_duration_seconds",
    "http_request_duration_highr_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
)

log = logging.getLogger("service.metrics")

_UNIT_ERRORS = (UnitError, IncompatibleUnitsError, DimensionMismatchError)

LabelKey = tuple[Any, ...]
"""Label values in the metric's label order; prometheus_client's ``labels()`` applies
``str()`` to each, so an HTTP status is kept as its int until the flush."""

# Applying tallies reads and increments the label children's value objects directly
# (``_value`` behind ``Counter.inc``, ``_count``/``_sum`` of a Summary, ``_sum``/``_buckets``
# of a Histogram): prometheus_client has no public "observe n times, summing s" call. These
# are private attributes, which is why prometheus_client is pinned exactly in
# requirements/constraints.txt; tests/test_metrics_tally.py compares the exposition of
# flushed tallies with direct ``inc()``/``observe()`` calls and fails if they change.


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

    def add(self, key: LabelKey) -> None:
        pending = self.pending
        pending[key] = pending.get(key, 0) + 1

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
            # Summary.observe(amount) is ``_count.inc(1); _sum.inc(amount)``.
            child._count.inc(count)
            child._sum.inc(total)


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
        self._bounds: list[float] = list(metric._upper_bounds)  # ends with +Inf
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
            child._sum.inc(cell[0])
            buckets = child._buckets
            for i, count in enumerate(cell[1:]):
                if count:
                    buckets[i].inc(count)


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
        self.registry = registry = registry or CollectorRegistry(auto_describe=True)
        self.predictions = Counter(
            "dimtensor_predictions",
            "Predictions by model, version, protocol and outcome ('ok' or an error kind).",
            ["model", "version", "protocol", "outcome"],
            registry=registry,
        )
        self.unit_errors = Counter(
            "dimtensor_unit_errors",
            "Refused unit expressions and dimension mismatches, by kind.",
            ["kind"],
            registry=registry,
        )
        self.inference = Histogram(
            "dimtensor_inference_duration_seconds",
            "Forward-pass time per request, by model.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.rows = Histogram(
            "dimtensor_request_rows",
            "Rows per prediction request, by model.",
            ["model"],
            buckets=ROWS_BUCKETS,
            registry=registry,
        )
        self.models = Gauge(
            "dimtensor_models",
            "Model versions by load state (ready or failed).",
            ["state"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        # The HTTP series, as prometheus-fastapi-instrumentator 8.1.0's ``metrics.default``.
        self.http_requests = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ["method", "status", "handler"],
            registry=registry,
        )
        self.http_request_size = Summary(
            "http_request_size_bytes",
            "Content length of incoming requests by handler. "
            "Only value of header is respected. Otherwise ignored. "
            "No percentile calculated. ",
            ["handler"],
            registry=registry,
        )
        self.http_response_size = Summary(
            "http_response_size_bytes",
            "Content length of outgoing responses by handler. "
            "Only value of header is respected. Otherwise ignored. "
            "No percentile calculated. ",
            ["handler"],
            registry=registry,
        )
        self.http_duration_highr = Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. "
            "Made for more accurate percentile calculations. ",
            buckets=DURATION_HIGHR_BUCKETS,
            registry=registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. "
            "Made to be only used if aggregation by handler is important. ",
            ["method", "handler"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

        self._lock = threading.Lock()  # guards the tallies' pending dicts
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._flushed_at = time.monotonic()
        self._predictions = _CounterTally(self.predictions)
        self._unit_errors = _CounterTally(self.unit_errors)
        self._inference = _HistogramTally(self.inference)
        self._rows = _HistogramTally(self.rows)
        self._http_requests = _CounterTally(self.http_requests)
        self._http_request_size = _SummaryTally(self.http_request_size)
        self._http_response_size = _SummaryTally(self.http_response_size)
        self._http_duration_highr = _HistogramTally(self.http_duration_highr)
        self._http_duration = _HistogramTally(self.http_duration)
        self._tallies: tuple[_Tally, ...] = (
            self._predictions,
            self._unit_errors,
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
            self.models.labels(state=state).set(count)

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


def multiprocess_dir() -> str | None:
    """The shared directory when running under several processes, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _prefers_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header (RFC 9110 12.5.3) asks for gzip over identity.

    Coding names and the ``q`` parameter are case-insensitive; ``x-gzip`` is gzip. Each
    coding's weight is its own entry's (the first, if listed twice), else ``*``'s, else it is
    not acceptable, except identity, which stays acceptable, ranked below every weighted
    coding. gzip is chosen when its weight is above 0 and at least identity's. An entry
    whose q-value breaks the grammar is ignored (a client that cannot be understood gets
    the uncompressed body, which every client reads). No header: identity.
    """
    weights: dict[str, float] = {}
    for entry in (accept_encoding or "").split(","):
        coding, *params = (part.strip() for part in entry.split(";"))
        weight = _weight(params)
        if coding and weight is not None:
            coding = coding.lower()
            weights.setdefault("gzip" if coding == "x-gzip" else coding, weight)
    star = weights.get("*", 0.0)
    gzip_weight = weights.get("gzip", star)
    return gzip_weight > 0 and gzip_weight >= weights.get("identity", star)


def _weight(params: list[str]) -> float | None:
    """The q-value among an entry's parameters: 1 when absent, None when malformed."""
    weight = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            if not _QVALUE.fullmatch(value.strip()):
                return None
            weight = float(value)
    return weight


def render(metrics: Metrics, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
    """The ``/metrics`` answer: flush `metrics`, then body and headers of the exposition.

    In multiprocess mode the exposition aggregates every worker's files (each worker's own
    tallies reach them on its next flush), else it is `metrics`'s registry. The body is
    gzip-compressed when `accept_encoding` (the request's Accept-Encoding) accepts gzip
    (see ``_prefers_gzip``): ``gzip;q=0`` means "not gzip", not "gzip".
    """
    metrics.flush()
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics.registry
    body = generate_latest(registry)
    headers = {"Content-Type": CONTENT_TYPE_LATEST}
    if _prefers_gzip(accept_encoding):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def mount_metrics(app: FastAPI, metrics: Metrics, path: str = "/metrics") -> None:
    """Add ``GET {path}``, the Prometheus exposition of `metrics` (see ``render``).

    A plain ``def``: FastAPI runs it in its thread pool, off the event loop.
    """

    def prometheus_metrics(request: Request) -> Response:
        body, headers = render(metrics, request.headers.get("accept-encoding"))
        return Response(content=body, headers=headers)

    app.add_api_route(path, prometheus_metrics, methods=["GET"], include_in_schema=False)


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn when a worker exits: drops its live gauges."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
