"""Local tallies flushed to prometheus_client expose exactly what direct calls would.

``service.metrics`` writes into prometheus_client's private value objects when it flushes
(Histogram ``_sum``/``_buckets``, Summary ``_count``/``_sum``); these tests compare its
exposition with a reference registry fed by the public ``inc()``/``observe()`` calls, so
a prometheus_client upgrade that changes those internals fails here.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import math
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.parser import text_string_to_metric_families

from service.errors import (
    DimensionMismatchError,
    IncompatibleUnitsError,
    ModelNotFoundError,
    OverloadedError,
    ServiceError,
    UnitError,
    UnitSyntaxError,
)
from service.metrics.exposition import mount_metrics, render
from service.metrics.series import (
    DURATION_BUCKETS,
    DURATION_HIGHR_BUCKETS,
    INFERENCE_BUCKETS,
    METRIC_NAMES,
    ROWS_BUCKETS,
)
from service.metrics.tally import Metrics

# ---------------------------------------------------------------------------- operations
# An operation is ("succeeded", protocol, model, version, rows, seconds),
# ("failed", protocol, model, version, error), ("http", method, status, handler,
# request_bytes, response_bytes, seconds) or ("flush",).
Op = tuple[Any, ...]
BOUND = 30.0  # seconds: a bound for what must happen, never a measure of speed

ERRORS: list[ServiceError] = [
    UnitSyntaxError("bad unit"),
    IncompatibleUnitsError("m vs s"),
    DimensionMismatchError("wrong dimension"),
    ModelNotFoundError("no such model"),
    OverloadedError("busy"),
]
ALL_BOUNDS = sorted(
    {float(b) for b in (*INFERENCE_BUCKETS, *DURATION_HIGHR_BUCKETS, *DURATION_BUCKETS)}
)


def _floats_near_bounds(bounds: Sequence[float]) -> st.SearchStrategy[float]:
    """Each bucket bound exactly, and the floats just below and above it."""
    near = [
        v
        for b in bounds
        for v in (float(b), math.nextafter(b, -math.inf), math.nextafter(b, math.inf))
    ]
    return st.sampled_from(near)


# Any non-negative value: bounds exactly, 0, ordinary and huge values, +Inf.
seconds_any = st.one_of(
    _floats_near_bounds(ALL_BOUNDS),
    st.just(0.0),
    st.floats(0, 100, allow_nan=False),
    st.floats(1e6, 1e300, allow_nan=False),
    st.just(math.inf),
)
rows_any = st.one_of(st.sampled_from(ROWS_BUCKETS), st.integers(0, 10**9))
bytes_any = st.one_of(st.just(0), st.integers(0, 2**62))

# Multiples of 1/256 below 2**20: every sum of a few dozen of them is exact, so the
# exposition text must match character for character.
DYADIC_BOUNDS = [b for b in ALL_BOUNDS if (b * 256).is_integer()]
seconds_dyadic = st.one_of(
    st.sampled_from(DYADIC_BOUNDS),
    st.just(0.0),
    st.integers(0, 2**28).map(lambda k: k / 256),
)
rows_dyadic = st.one_of(st.sampled_from(ROWS_BUCKETS), st.integers(0, 2**30))
bytes_dyadic = st.integers(0, 2**40)


def operations(
    seconds: st.SearchStrategy[float],
    rows: st.SearchStrategy[int],
    size: st.SearchStrategy[int],
) -> st.SearchStrategy[list[Op]]:
    protocol = st.sampled_from(["native", "v2"])
    model = st.sampled_from(["heat", "drag"])
    version = st.sampled_from(["1", "2"])
    succeeded = st.tuples(st.just("succeeded"), protocol, model, version, rows, seconds)
    failed = st.tuples(
        st.just("failed"),
        protocol,
        st.none() | model,
        st.none() | version,
        st.sampled_from(ERRORS),
    )
    http = st.tuples(
        st.just("http"),
        st.sampled_from(["GET", "POST"]),
        st.sampled_from([200, 404, 422, 500]),
        st.sampled_from(["/predict", "/v2/models/{model_name}/infer"]),
        size,
        size,
        seconds,
    )
    flush = st.just(("flush",))
    return st.lists(st.one_of(succeeded, failed, http, flush), max_size=60)


def record(metrics: Metrics, ops: Sequence[Op], *, flush_at_end: bool = True) -> None:
    """The operations through the tallies, flushing where they say (and at the end)."""
    for op in ops:
        if op[0] == "succeeded":
            metrics.succeeded(*op[1:])
        elif op[0] == "failed":
            metrics.failed(*op[1:])
        elif op[0] == "http":
            metrics.observe_http(*op[1:])
        else:
            metrics.flush()
    if flush_at_end:
        metrics.flush()


def record_directly(metrics: Metrics, ops: Sequence[Op]) -> None:
    """The reference: the same observations as direct prometheus_client calls, the way
    the service and prometheus-fastapi-instrumentator made them before tallies."""
    for op in ops:
        if op[0] == "succeeded":
            _, protocol, model, version, rows, seconds = op
            metrics.series.predictions.labels(model, version, protocol, "ok").inc()
            metrics.series.inference.labels(model).observe(seconds)
            metrics.series.rows.labels(model).observe(rows)
        elif op[0] == "failed":
            _, protocol, model, version, error = op
            metrics.series.predictions.labels(
                model or "unknown", version or "", protocol, error.kind
            ).inc()
            if isinstance(error, UnitError | IncompatibleUnitsError | DimensionMismatchError):
                metrics.series.unit_errors.labels(error.kind).inc()
        elif op[0] == "http":
            _, method, status, handler, request_bytes, response_bytes, seconds = op
            metrics.series.http_requests.labels(method, str(status), handler).inc()
            metrics.series.http_request_size.labels(handler).observe(request_bytes)
            metrics.series.http_response_size.labels(handler).observe(response_bytes)
            metrics.series.http_duration_highr.observe(seconds)
            metrics.series.http_duration.labels(method, handler).observe(seconds)


def tallied() -> Metrics:
    return Metrics(flush_interval=math.inf)  # flushes only where the test says


# ---------------------------------------------------------------------------- comparison
_CREATED = re.compile(r"^(# (HELP|TYPE) )?\w+_created[ {]")


def text_without_created(registry: CollectorRegistry) -> str:
    """The exposition without ``*_created`` series (creation timestamps differ)."""
    text = generate_latest(registry).decode()
    return "\n".join(line for line in text.splitlines() if not _CREATED.match(line))


def families(text: str, *, ordered: bool = True) -> list[tuple[Any, ...]]:
    """Parsed families with their samples, ``_created`` dropped; ordered=False sorts the
    samples (the multiprocess collector's order depends on the files)."""
    out = []
    for family in text_string_to_metric_families(text):
        samples = [
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for s in family.samples
            if not s.name.endswith("_created")
        ]
        if not ordered:
            samples.sort(key=lambda s: (s[0], s[1]))
        out.append((family.name, family.type, family.documentation, samples))
    if not ordered:
        out.sort(key=lambda f: str(f[0]))
    return out


def assert_same(actual: str, expected: str, *, ordered: bool = True) -> None:
    """Same families, samples and values; sums may differ in the last bits (the tallies
    add a batch before adding it to the series: float addition is not associative)."""
    got, want = families(actual, ordered=ordered), families(expected, ordered=ordered)
    assert [f[:3] for f in got] == [f[:3] for f in want]
    for (name, _, _, got_samples), (_, _, _, want_samples) in zip(got, want, strict=True):
        assert [s[:2] for s in got_samples] == [s[:2] for s in want_samples], name
        for (sample, labels, value), (_, _, expected_value) in zip(
            got_samples, want_samples, strict=True
        ):
            if sample.endswith("_sum"):
                assert math.isclose(value, expected_value, rel_tol=1e-9), (sample, labels)
            else:
                assert value == expected_value, (sample, labels)


# ---------------------------------------------------------------------------- single process
@settings(max_examples=200, deadline=None)
@given(ops=operations(seconds_any, rows_any, bytes_any))
def test_flushed_tallies_expose_what_direct_calls_expose(ops: list[Op]) -> None:
    metrics, reference = tallied(), tallied()
    record(metrics, ops)
    record_directly(reference, ops)
    assert_same(
        generate_latest(metrics.registry).decode(), generate_latest(reference.registry).decode()
    )


@settings(max_examples=200, deadline=None)
@given(ops=operations(seconds_dyadic, rows_dyadic, bytes_dyadic))
def test_exact_sums_give_the_same_text(ops: list[Op]) -> None:
    metrics, reference = tallied(), tallied()
    record(metrics, ops)
    record_directly(reference, ops)
    assert text_without_created(metrics.registry) == text_without_created(reference.registry)


@pytest.mark.parametrize("value", [math.nan, -1.0, -math.inf, 0.0, math.inf, 1e308])
def test_odd_values_land_where_observe_puts_them(value: float) -> None:
    ops: list[Op] = [
        ("succeeded", "native", "heat", "1", 3, value),
        ("http", "GET", 200, "/predict", 10, 20, value),
        ("flush",),
        ("http", "GET", 200, "/predict", 10, 20, value),
    ]
    metrics, reference = tallied(), tallied()
    record(metrics, ops)
    record_directly(reference, ops)
    assert text_without_created(metrics.registry) == text_without_created(reference.registry)


def test_nothing_reaches_prometheus_client_before_a_flush() -> None:
    metrics = tallied()
    metrics.succeeded("native", "heat", "1", 3, 0.002)
    metrics.observe_http("POST", 200, "/predict", 100, 200, 0.01)
    assert text_without_created(metrics.registry) == text_without_created(tallied().registry)
    metrics.flush()
    assert metrics.registry.get_sample_value(
        "http_requests_total", {"method": "POST", "status": "200", "handler": "/predict"}
    ) == pytest.approx(1)


def test_flush_is_idempotent() -> None:
    metrics = tallied()
    record(
        metrics, [("succeeded", "v2", "drag", "2", 7, 0.01), ("http", "POST", 422, "/x", 1, 2, 3)]
    )
    once = generate_latest(metrics.registry)
    metrics.flush()
    metrics.flush()
    assert generate_latest(metrics.registry) == once


def test_a_record_call_flushes_once_the_interval_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("service.metrics.tally.time.monotonic", lambda: now[0])
    metrics = Metrics(flush_interval=1.0)

    def total() -> float | None:
        return metrics.registry.get_sample_value(
            "dimtensor_predictions_total",
            {"model": "heat", "version": "1", "protocol": "native", "outcome": "ok"},
        )

    metrics.succeeded("native", "heat", "1", 1, 0.001)
    now[0] += 0.5
    metrics.succeeded("native", "heat", "1", 1, 0.001)
    now[0] += 0.5  # exactly the interval: not yet "more than"
    metrics.succeeded("native", "heat", "1", 1, 0.001)
    assert total() is None
    now[0] += 0.01
    metrics.succeeded("native", "heat", "1", 1, 0.001)  # flushes all four
    assert total() == 4
    now[0] += 0.5  # the interval restarts at the flush
    metrics.observe_http("GET", 200, "/predict", 0, 0, 0.001)
    assert total() == 4
    assert metrics.registry.get_sample_value("http_request_duration_highr_seconds_count") == 0
    now[0] += 0.6
    metrics.failed("native", None, None, OverloadedError("busy"))
    assert metrics.registry.get_sample_value("http_request_duration_highr_seconds_count") == 1


def test_flush_periodically_flushes() -> None:
    """The lifespan task writes the tallies of a worker that records nothing more."""

    async def scenario() -> list[float | None]:
        metrics = Metrics(flush_interval=math.inf)  # no record call can flush inline
        labels = {"method": "GET", "status": "200", "handler": "/h"}
        flushed = asyncio.Event()
        real = metrics.flush

        def flush() -> None:
            real()
            flushed.set()

        metrics.flush = flush  # type: ignore[method-assign]
        metrics.observe_http("GET", 200, "/h", 0, 0, 0.01)
        seen = [metrics.registry.get_sample_value("http_requests_total", labels)]
        metrics.flush_interval = 0.01
        task = asyncio.create_task(metrics.flush_periodically())
        await asyncio.wait_for(flushed.wait(), timeout=BOUND)
        seen.append(metrics.registry.get_sample_value("http_requests_total", labels))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert asyncio.run(scenario()) == [None, 1]


def test_flush_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="flush_interval"):
        Metrics(flush_interval=0)


def test_concurrent_recording_loses_nothing() -> None:
    threads, per_thread = 8, 3000
    metrics = Metrics(flush_interval=1e-4)  # inline flushes race the records
    stop = threading.Event()

    def work() -> None:
        for i in range(per_thread):
            metrics.observe_http("POST", 200, "/predict", 3, 5, 0.5)
            metrics.succeeded("native", "heat", "1", 2, 0.25)
            if i % 7 == 0:
                metrics.failed("v2", "heat", "1", UnitSyntaxError("x"))

    def flusher() -> None:
        while not stop.is_set():
            metrics.flush()

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        extra = threading.Thread(target=flusher)
        extra.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        extra.join()
    finally:
        sys.setswitchinterval(switch)
    metrics.flush()

    n = threads * per_thread
    failures = threads * len(range(0, per_thread, 7))
    get = metrics.registry.get_sample_value
    http = {"method": "POST", "status": "200", "handler": "/predict"}
    assert get("http_requests_total", http) == n
    assert get("http_request_size_bytes_sum", {"handler": "/predict"}) == 3 * n
    assert get("http_response_size_bytes_count", {"handler": "/predict"}) == n
    assert get("http_request_duration_highr_seconds_bucket", {"le": "0.5"}) == n
    assert get("http_request_duration_highr_seconds_bucket", {"le": "0.25"}) == 0
    assert get("http_request_duration_highr_seconds_sum") == 0.5 * n
    assert (
        get("http_request_duration_seconds_count", {"method": "POST", "handler": "/predict"}) == n
    )
    ok = {"model": "heat", "version": "1", "protocol": "native", "outcome": "ok"}
    assert get("dimtensor_predictions_total", ok) == n
    assert get("dimtensor_inference_duration_seconds_sum", {"model": "heat"}) == 0.25 * n
    assert get("dimtensor_request_rows_bucket", {"model": "heat", "le": "2.0"}) == n
    assert get("dimtensor_request_rows_bucket", {"model": "heat", "le": "1.0"}) == 0
    refused = {"model": "heat", "version": "1", "protocol": "v2", "outcome": "unit-syntax"}
    assert get("dimtensor_predictions_total", refused) == failures
    assert get("dimtensor_unit_errors_total", {"kind": "unit-syntax"}) == failures


# ---------------------------------------------------------------------------- multiprocess
def _worker_value_class(pid: int) -> Any:
    """What prometheus_client picks at import when PROMETHEUS_MULTIPROC_DIR is set
    (``values.ValueClass``, looked up whenever a value is created), for a worker `pid`."""
    return values.MultiProcessValue(lambda: pid)  # type: ignore[no-untyped-call]


@settings(max_examples=30, deadline=None)
@given(
    ops=operations(seconds_dyadic, rows_dyadic, bytes_dyadic),
    workers=st.lists(st.sampled_from([0, 1]), min_size=60, max_size=60),
)
def test_multiprocess_files_hold_the_flushed_counts(ops: list[Op], workers: list[int]) -> None:
    """Two workers share the operations; /metrics of one of them (render) aggregates the
    files into what a single process making direct calls writes."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        ours, ref = Path(tmp, "ours"), Path(tmp, "ref")
        ours.mkdir()
        ref.mkdir()
        classes = [_worker_value_class(101), _worker_value_class(102)]

        def as_worker(worker: int) -> None:
            # values are created (label children: at flush) by the worker's class
            patch.setattr(values, "ValueClass", classes[worker])

        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ours))
        pair = []
        for worker in (0, 1):
            as_worker(worker)
            pair.append(tallied())
        for op, worker in zip(ops, workers, strict=False):
            as_worker(worker)
            record(pair[worker], [op], flush_at_end=False)
        as_worker(1)
        pair[1].flush()  # as its periodic flush would
        as_worker(0)
        body, headers = render(pair[0], None)  # flushes worker 0 itself

        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ref))
        classes.append(_worker_value_class(201))
        as_worker(2)
        record_directly(tallied(), ops)
        expected_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(expected_registry, path=str(ref))  # type: ignore[no-untyped-call]
        expected = generate_latest(expected_registry).decode()

        for value_class in classes:
            value_class.close_all_files()

    assert headers == {"Content-Type": CONTENT_TYPE_LATEST}
    assert_same(body.decode(), expected, ordered=False)
    if any(op[0] == "http" for op in ops):
        assert "http_requests_total" in body.decode()


# ---------------------------------------------------------------------------- exposition
def test_render_plain_and_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = tallied()
    metrics.observe_http("GET", 404, "/v2/models/{model_name}", 0, 120, 0.003)

    plain, headers = render(metrics, None)  # flushes first
    assert headers == {"Content-Type": CONTENT_TYPE_LATEST}
    assert (
        'http_requests_total{handler="/v2/models/{model_name}",method="GET",status="404"} 1.0'
        in (plain.decode())
    )
    identity, headers = render(metrics, "identity")
    assert "Content-Encoding" not in headers
    assert identity == plain

    zipped, headers = render(metrics, "br, gzip;q=0.8")
    assert headers == {"Content-Type": CONTENT_TYPE_LATEST, "Content-Encoding": "gzip"}
    assert gzip.decompress(zipped) == plain


@pytest.mark.anyio
async def test_mount_metrics_serves_the_exposition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = FastAPI()
    metrics = tallied()
    mount_metrics(app, metrics)
    metrics.succeeded("native", "heat", "1", 4, 0.001)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        zipped = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        schema = await client.get("/openapi.json")
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    for answer in (zipped, plain):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
        assert 'dimtensor_request_rows_bucket{le="4.0",model="heat"} 1.0' in answer.text
    assert "/metrics" not in schema.json()["paths"]


def test_http_series_are_the_instrumentators() -> None:
    """Names, types, labels, buckets and help texts are those prometheus-fastapi-instrumentator's
    ``metrics.default()`` defines (the HTTP metrics the dashboards are built on). The library
    is a test dependency only: its per-request middleware cost ~64 us."""
    from prometheus_fastapi_instrumentator import metrics as instrumentator

    theirs = CollectorRegistry()
    record = instrumentator.default(registry=theirs)
    assert record is not None
    ours = tallied()
    ours.observe_http("GET", 200, "/h", 0, 0, 0.0)
    ours.flush()
    for name in (
        "http_requests_total",
        "http_request_size_bytes",
        "http_response_size_bytes",
        "http_request_duration_highr_seconds",
        "http_request_duration_seconds",
    ):
        assert name in METRIC_NAMES

    def shape(registry: CollectorRegistry) -> dict[str, Any]:
        out = {}
        for family in registry.collect():  # the text parser would strip the help's spaces
            if not family.name.startswith("http_"):
                continue
            out[family.name] = (
                family.type,
                family.documentation,
                sorted({k for s in family.samples for k in s.labels if k != "le"}),
                [s.labels["le"] for s in family.samples if s.name.endswith("_bucket")][:25],
            )
        return out

    # The library's series have no samples until observed: record one request its way.
    from starlette.requests import Request
    from starlette.responses import Response

    request = Request({"type": "http", "method": "GET", "path": "/h", "headers": []})
    record(instrumentator.Info(request, Response(b""), "GET", "/h", "200", 0.0, 0.0))
    ours_labels = {k: v[:3] for k, v in shape(ours.registry).items()}
    theirs_shape = shape(theirs)
    assert {k: v[:3] for k, v in theirs_shape.items()} == ours_labels
    assert {k: v[3] for k, v in theirs_shape.items()} == {
        k: v[3] for k, v in shape(ours.registry).items()
    }


def test_metric_names_lists_every_series() -> None:
    series = {
        f.name + "_total" if f.type == "counter" else f.name for f in tallied().registry.collect()
    }
    assert series == set(METRIC_NAMES)


def test_a_flush_that_fails_never_fails_the_request(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full or a read-only metrics directory: the record call still returns, the
    failure is logged, the tallies of the failed flush are dropped (not replayed later),
    and once writing works again record calls flush exactly what they record."""
    ticks = itertools.count(start=1000.0, step=10.0)  # every record call is past the interval
    monkeypatch.setattr("service.metrics.tally.time.monotonic", lambda: next(ticks))
    metrics = Metrics(flush_interval=1.0)

    def full(*values: str) -> Any:
        raise OSError(28, "No space left on device")

    def value(name: str, **labels: str) -> float:
        found = metrics.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    ok = {"model": "m", "version": "1", "protocol": "native", "outcome": "ok"}
    with monkeypatch.context() as disk:
        disk.setattr(metrics.series.inference, "labels", full)
        metrics.succeeded("native", "m", "1", 5, 0.001)  # the inline flush fails: logged
        metrics.succeeded("native", "m", "1", 5, 0.001)
    assert caplog.text.count("could not write the tallies; they are dropped") == 2
    predictions_before = value("dimtensor_predictions_total", **ok)
    assert value("dimtensor_inference_duration_seconds_count", model="m") == 0

    for rows in (2, 3, 4):  # the disk has room again; each call flushes inline
        metrics.succeeded("native", "m", "1", rows, 0.001)
    assert value("dimtensor_predictions_total", **ok) - predictions_before == 3
    assert value("dimtensor_inference_duration_seconds_count", model="m") == 3
    assert value("dimtensor_inference_duration_seconds_sum", model="m") == pytest.approx(0.003)
    assert value("dimtensor_request_rows_count", model="m") == 3
    assert value("dimtensor_request_rows_sum", model="m") == 2 + 3 + 4
    assert value("dimtensor_request_rows_bucket", model="m", le="2.0") == 1
    assert value("dimtensor_request_rows_bucket", model="m", le="4.0") == 3
    assert caplog.text.count("could not write the tallies") == 2  # no new failure


@pytest.mark.anyio
async def test_the_periodic_flush_survives_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics(flush_interval=0.01)
    calls = []
    third = asyncio.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        if len(calls) == 3:
            third.set()

    metrics.flush = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(metrics.flush_periodically())
    try:
        await asyncio.wait_for(third.wait(), timeout=BOUND)  # two flushes after the failure
    finally:
        task.cancel()
    assert caplog.text.count("could not write the tallies") == 1
