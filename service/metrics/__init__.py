"""Prometheus metrics, by concern; import from the module that owns what you need.

- ``series``: what is exported (names, labels, buckets, help), as data.
- ``tally``: ``Metrics``, the record calls (a ``PredictObserver`` and the HTTP series'
  ``observe_http``), kept in process and flushed to prometheus_client.
- ``exposition``: the ``/metrics`` route.
- ``multiprocess``: gunicorn's hooks for multiprocess mode (the master imports only this).
- ``_prometheus``: the only code that touches prometheus_client's internals.

The package itself imports nothing, so that the gunicorn master can reach ``multiprocess``
without loading the app (torch, the model repository).
"""
