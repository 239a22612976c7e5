"""Serving the metrics: the ``/metrics`` route, and gunicorn's hooks for multiprocess mode.

Under gunicorn every worker is a process, so values go through prometheus_client's
multiprocess mode: the master gives the workers an empty ``PROMETHEUS_MULTIPROC_DIR``
before they fork (``prepare_multiprocess_dir``, from ``on_starting``), each worker's app
keeps its values there (``service.metrics._prometheus.use_storage``), dead workers are
marked (``mark_process_dead``, from ``child_exit``), and ``/metrics`` aggregates every
worker's files, so any worker answers the totals.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from service.metrics.tally import Metrics

__all__ = [
    "accepts_gzip",
    "mark_process_dead",
    "mount_metrics",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
    "render",
]


def multiprocess_dir() -> str | None:
    """The shared directory when running under several processes, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 12.5.3): named, or
    covered by ``*``, with a q-value above 0 (``gzip;q=0`` refuses it)."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0  # a q-value nobody can read admits nothing
        weights[coding] = q
    q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return q > 0


def render(metrics: Metrics, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
    """The ``/metrics`` answer: flush `metrics`, then body and headers of the exposition.

    In multiprocess mode the exposition aggregates every worker's files (each worker's own
    tallies reach them on its next flush), else it is `metrics`'s registry. The body is
    gzip-compressed when `accept_encoding` (the request's Accept-Encoding) admits gzip.
    """
    metrics.flush()
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics.registry
    body = generate_latest(registry)
    headers = {"Content-Type": CONTENT_TYPE_LATEST}
    if accepts_gzip(accept_encoding):
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


def prepare_multiprocess_dir(default: Path) -> Path:
    """In gunicorn's master, before workers fork: an empty metrics directory
    (``PROMETHEUS_MULTIPROC_DIR``, else `default`) named in the environment the workers
    inherit. Stale files of an earlier run would add to the counts."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or default)
    if path.exists():
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn when a worker exits: drops its live gauges."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
