"""The service's Prometheus series as data: names, types, labels, buckets and help texts.

Two families. The domain series (``dimtensor_*``) count predictions, refused units, rows
outside a model's validity domain, forward-pass time, rows and loaded models. The HTTP
series are exactly prometheus-fastapi-instrumentator 8.1.0's ``metrics.default()`` (same
names, labels, buckets and help; ``tests/test_metrics_tally.py`` compares them with the
library, a test dependency), so dashboards written for that library work unchanged.

``build`` registers every series in a registry; nothing here records a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

__all__ = [
    "DURATION_BUCKETS",
    "DURATION_HIGHR_BUCKETS",
    "INFERENCE_BUCKETS",
    "METRIC_NAMES",
    "ROWS_BUCKETS",
    "Series",
    "build",
]

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
    "dimtensor_outside_domain_rows_total",
    "dimtensor_inference_duration_seconds",
    "dimtensor_request_rows",
    "dimtensor_models",
    "http_requests_total",
    "http_request_duration_seconds",
    "http_request_duration_highr_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
)

_SIZE_HELP = (
    "Content length of {} by handler. Only value of header is respected. "
    "Otherwise ignored. No percentile calculated. "
)


@dataclass(frozen=True)
class Series:
    """Every series of one ``Metrics``, registered in one registry."""

    predictions: Counter
    unit_errors: Counter
    outside_domain: Counter
    inference: Histogram
    rows: Histogram
    models: Gauge
    http_requests: Counter
    http_request_size: Summary
    http_response_size: Summary
    http_duration_highr: Histogram
    http_duration: Histogram


def build(registry: CollectorRegistry) -> Series:
    """Register every series in `registry`."""
    return Series(
        predictions=Counter(
            "dimtensor_predictions",
            "Predictions by model, version, protocol and outcome ('ok' or an error kind).",
            ["model", "version", "protocol", "outcome"],
            registry=registry,
        ),
        unit_errors=Counter(
            "dimtensor_unit_errors",
            "Refused unit expressions and dimension mismatches, by kind.",
            ["kind"],
            registry=registry,
        ),
        outside_domain=Counter(
            "dimtensor_outside_domain_rows",
            "Rows outside the model's declared validity domain (flagged or refused), by "
            "model and input.",
            ["model", "input"],
            registry=registry,
        ),
        inference=Histogram(
            "dimtensor_inference_duration_seconds",
            "Forward-pass time per request, by model.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        ),
        rows=Histogram(
            "dimtensor_request_rows",
            "Rows per prediction request, by model.",
            ["model"],
            buckets=ROWS_BUCKETS,
            registry=registry,
        ),
        models=Gauge(
            "dimtensor_models",
            "Model versions by load state (ready or failed).",
            ["state"],
            registry=registry,
            multiprocess_mode="livemax",
        ),
        http_requests=Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ["method", "status", "handler"],
            registry=registry,
        ),
        http_request_size=Summary(
            "http_request_size_bytes",
            _SIZE_HELP.format("incoming requests"),
            ["handler"],
            registry=registry,
        ),
        http_response_size=Summary(
            "http_response_size_bytes",
            _SIZE_HELP.format("outgoing responses"),
            ["handler"],
            registry=registry,
        ),
        http_duration_highr=Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. "
            "Made for more accurate percentile calculations. ",
            buckets=DURATION_HIGHR_BUCKETS,
            registry=registry,
        ),
        http_duration=Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. "
            "Made to be only used if aggregation by handler is important. ",
            ["method", "handler"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
    )
