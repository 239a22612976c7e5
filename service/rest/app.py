"""The application factory: settings -> the core (``service.core``) -> doors -> route table.

``create_app()`` is what gunicorn imports in each worker (``service.rest.app:create_app()``)
and what tests call with their own settings or repository. Models load here, before the
worker accepts connections, so a worker that serves is a worker with warmed models.

The request path, from the ASGI entry to the model (docs/architecture.md lists it too):
``Operations`` (request id, auth, limits, deadline, access line, HTTP metrics) ->
``DoorDispatch`` (a prediction route, straight to its ``DoorRoute``; anything else through
FastAPI's router to the same route objects) -> the door's endpoint (``NativeDoor.predict``,
``OipDoor.infer``, ...) -> ``DataPlane.predict_async`` -> ``LoadedModel.predict``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from service import __version__
from service.batching import Batcher, BatchPolicy
from service.core import build_dataplane
from service.logs import AccessLog, configure_logging
from service.metrics._prometheus import use_storage
from service.metrics.exposition import mount_metrics
from service.metrics.tally import Metrics
from service.models import ModelRepository
from service.rest.native.door import NativeDoor
from service.rest.native.health import HealthDoor
from service.rest.native.units import UnitsDoor
from service.rest.oip.door import OipDoor
from service.rest.operations import Operations, RouteNames
from service.rest.routing import DoorDispatch, RouteTable
from service.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("service")

HEALTH_PATHS = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready")
OPENAPI_TAGS = [
    {"name": "native", "description": "Predictions with unit-tagged JSON."},
    {"name": "units", "description": "Parse and convert unit expressions."},
    {"name": "open inference protocol", "description": "KServe V2 REST, units in parameters.unit."},
    {"name": "health", "description": "Liveness and readiness."},
]
DESCRIPTION = """\
Unit-aware predictions for physics-ML models. Every number travels with its unit:
inputs in any compatible unit are converted to the model's units, outputs come back
in the units you ask for, and a quantity of the wrong dimension is refused with a
problem report (RFC 9457) that says what was expected and what was received.
"""


def create_app(
    settings: Settings | None = None, *, repository: ModelRepository | None = None
) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: defaults to the environment (``service.settings``).
        repository: an already loaded repository (tests); default: load the one the
            settings name, or the embedded default models.
    """
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # gunicorn's logconfig (or pytest) may own logging
        configure_logging(settings.server.log_level)
    api_keys = settings.load_api_keys() if settings.auth_enabled else None
    use_storage(settings.server.prometheus_multiproc_dir)
    metrics = Metrics()
    dataplane = build_dataplane(
        settings, repository=repository, observer=metrics, batcher=_batcher(settings)
    )
    _warn_failed(dataplane.repository)
    metrics.set_models(dataplane.repository.statuses())
    table = RouteTable(
        [
            HealthDoor(dataplane),
            NativeDoor(dataplane),
            UnitsDoor(dataplane),
            OipDoor(dataplane, missing_unit=settings.oip_missing_unit),
        ]
    )
    access = _access_log(settings)
    app = FastAPI(
        title="dimtensor-serve",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=_flushing(metrics, access),
        # FastAPI's native OpenTelemetry looks up the global providers on every request;
        # this server exports Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.dataplane = dataplane
    app.state.metrics = metrics
    app.state.access_log = access
    table.mount(app)
    mount_metrics(app, metrics)
    # Outermost last: the operations layer sees every request; inside it, the prediction
    # routes are dispatched straight to their route objects.
    app.add_middleware(DoorDispatch, table=table)
    exempt = HEALTH_PATHS if settings.metrics_auth else (*HEALTH_PATHS, "/metrics")
    app.add_middleware(
        Operations,
        shaper_for=table.shaper_for,
        metrics=metrics,
        access_log=access,
        route_names=RouteNames(app, known={k: k[1] for k in _static_routes(table)}),
        max_body_bytes=settings.max_body_bytes,
        timeout=settings.request_timeout,
        api_keys=api_keys,
        auth_exempt=exempt,
        metrics_exempt=(*HEALTH_PATHS, "/metrics"),
    )
    return app


def _warn_failed(repository: ModelRepository) -> None:
    for status in repository.statuses():
        if status.state != "ready":
            log.warning(
                "model %s/%s failed to load: %s", status.name, status.version, status.reason
            )


def _static_routes(table: RouteTable) -> list[tuple[str, str]]:
    """(method, path) of the raw routes without path parameters: their metrics label is
    their path, known before the first request."""
    return [
        (method, route.path)
        for route in table.raw_routes
        if not route.param_convertors
        for method in route.methods or ()
    ]


def _access_log(settings: Settings) -> AccessLog | None:
    """The access log, unless switched off (ACCESS_LOG) or LOG_LEVEL is above info."""
    level = logging.getLevelName(settings.server.log_level.upper())
    if not settings.access_log or (isinstance(level, int) and level > logging.INFO):
        return None
    return AccessLog(flush_interval=settings.access_log_flush_seconds)


def _flushing(
    metrics: Metrics, access: AccessLog | None
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: metrics and access lines kept in memory are written out every
    second while it serves, and once more when it stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(metrics.flush_periodically())]
        if access is not None:
            tasks.append(asyncio.create_task(access.flush_periodically()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            metrics.flush()
            if access is not None:
                access.flush()

    return lifespan


def _batcher(settings: Settings) -> Batcher | None:
    if not settings.batch_enabled:
        return None
    return Batcher(
        BatchPolicy(
            max_rows=settings.batch_max_rows,
            max_wait=settings.batch_max_wait_ms / 1000,
            queue_rows=settings.batch_queue_rows,
            inline_below=settings.batch_inline_ms / 1000,
        )
    )
