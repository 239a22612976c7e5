"""Prometheus metrics: HTTP metrics from prometheus-fastapi-instrumentator plus the domain's.

Under gunicorn every worker is a process, so values go through prometheus_client's
multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (and emptied) by the gunicorn
config in the master before workers fork, dead workers are marked in ``child_exit``,
and ``/metrics`` aggregates every worker's files, so any worker answers the totals.

Label values never come from client text: a model that does not resolve is "unknown".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _normalize_multiprocess_env() -> None:
    """Read ``PROMETHEUS_MULTIPROC_DIR`` the way an operator means it, before
    prometheus_client looks at it (it decides its storage when first imported): empty means
    unset (prometheus_client would write its files into the working directory and the
    instrumentator refuses to start), and a named directory is created if missing."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if value is None:
        return
    if not value.strip():
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    else:
        Path(value).mkdir(parents=True, exist_ok=True)


_normalize_multiprocess_env()

from fastapi import FastAPI  # noqa: E402 - after the environment is normalized
from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_fastapi_instrumentator import Instrumentator  # noqa: E402

from service.errors import (  # noqa: E402
    DimensionMismatchError,
    IncompatibleUnitsError,
    ServiceError,
    UnitError,
)
from service.models import ModelStatus  # noqa: E402

__all__ = ["METRIC_NAMES", "Metrics", "instrument_http", "mark_process_dead"]

ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)

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


class Metrics:
    """The domain metrics, registered in one registry; a ``PredictObserver``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Each app has its own registry, so several apps in one process (tests) do not
        # collide; in multiprocess mode the exposition reads every worker's files instead.
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

    def set_models(self, statuses: Iterable[ModelStatus]) -> None:
        """Publish how many model versions loaded and how many failed."""
        counts = {"ready": 0, "failed": 0}
        for status in statuses:
            counts[status.state] = counts.get(status.state, 0) + 1
        for state, count in counts.items():
            self.models.labels(state=state).set(count)

    # PredictObserver
    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        self.predictions.labels(model, version, protocol, "ok").inc()
        self.inference.labels(model).observe(seconds)
        self.rows.labels(model).observe(rows)

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        self.predictions.labels(model or "unknown", version or "", protocol, error.kind).inc()
        if isinstance(error, UnitError | IncompatibleUnitsError | DimensionMismatchError):
            self.unit_errors.labels(error.kind).inc()


def instrument_http(app: FastAPI, metrics: Metrics, *, exempt: Iterable[str] = ()) -> None:
    """Add the HTTP metrics middleware to `app` and mount ``/metrics``.

    Call it after the middleware whose refusals should be counted (auth, body limit).
    """
    Instrumentator(
        registry=metrics.registry,
        excluded_handlers=["/metrics", *exempt],
        should_group_status_codes=False,
    ).instrument(app).expose(app, include_in_schema=False, should_gzip=True)


def multiprocess_dir() -> str | None:
    """The shared directory when running under several processes, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn when a worker exits: drops its live gauges."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
