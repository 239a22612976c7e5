"""Prometheus metrics, by concern.

- ``series``: what is exported (names, labels, buckets, help), as data.
- ``tally``: ``Metrics``, the record calls (a ``PredictObserver`` and the HTTP series'
  ``observe_http``), kept in process and flushed to prometheus_client.
- ``exposition``: the ``/metrics`` route and gunicorn's multiprocess hooks.
- ``_prometheus``: the only code that touches prometheus_client's internals.
"""

from service.metrics._prometheus import use_storage
from service.metrics.exposition import (
    mark_process_dead,
    mount_metrics,
    multiprocess_dir,
    prepare_multiprocess_dir,
    render,
)
from service.metrics.series import (
    DURATION_BUCKETS,
    DURATION_HIGHR_BUCKETS,
    INFERENCE_BUCKETS,
    METRIC_NAMES,
    ROWS_BUCKETS,
)
from service.metrics.tally import Metrics

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
    "prepare_multiprocess_dir",
    "render",
    "use_storage",
]
