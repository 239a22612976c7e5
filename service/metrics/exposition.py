"""Serving the metrics: the ``/metrics`` route, which under gunicorn aggregates every worker's
files in the multiprocess directory (``service.metrics.multiprocess``), so any worker answers
the totals."""

from __future__ import annotations

import gzip
import re

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from service.metrics.multiprocess import multiprocess_dir
from service.metrics.tally import Metrics

__all__ = ["mount_metrics", "render"]


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
