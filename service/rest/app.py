"""The application factory: settings -> repository -> data plane -> doors.

``create_app()`` is what gunicorn imports in each worker (``service.rest.app:create_app()``)
and what tests call with their own settings or repository. Models load here, before the
worker accepts connections, so a worker that serves is a worker with warmed models.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import torch
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service import __version__
from service.batching import Batcher, BatchPolicy
from service.dataplane import DataPlane
from service.logs import AccessLog, configure_logging
from service.metrics import Metrics, mount_metrics
from service.models import ModelRepository, default_repository_path
from service.rest.asgi import read_body, send_response
from service.rest.health import ServerState, register_health_endpoints
from service.rest.middleware import Operations, RouteNames
from service.rest.native import register_native_endpoints
from service.rest.problems import install_problem_handlers
from service.rest.units_api import register_units_endpoints
from service.rest.v2_endpoints import register_v2_endpoints, v2_answer
from service.settings import Settings, get_settings

__all__ = ["FastDoors", "create_app"]

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
        configure_logging(settings.log_level)
    api_keys = settings.load_api_keys() if settings.auth_enabled else []
    torch.set_num_threads(settings.torch_threads)
    if repository is None:
        root = settings.model_repository or default_repository_path()
        repository = ModelRepository.load(root, trusted=settings.model_repository_trusted)
    for status in repository.statuses():
        if status.state != "ready":
            log.warning(
                "model %s/%s failed to load: %s", status.name, status.version, status.reason
            )
    metrics = Metrics()
    metrics.set_models(repository.statuses())
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
    dataplane = DataPlane(
        repository,
        observer=metrics,
        default_model=settings.default_model,
        max_unit_length=settings.max_unit_length,
        max_rows=settings.max_rows,
        batcher=_batcher(settings),
    )
    state = ServerState()
    app.state.settings = settings
    app.state.dataplane = dataplane
    app.state.server = state
    app.state.metrics = metrics
    app.state.access_log = access
    install_problem_handlers(app)
    register_health_endpoints(app, dataplane, state)
    register_native_endpoints(app, dataplane, inline_rows=settings.inline_rows)
    register_units_endpoints(app, dataplane)
    register_v2_endpoints(
        app,
        dataplane,
        state,
        missing_unit=settings.oip_missing_unit,
        inline_rows=settings.inline_rows,
    )
    mount_metrics(app, metrics)
    # Outermost last: the operations layer (request id, auth, body limit, deadline,
    # access line, HTTP metrics) sees every request; inside it the two prediction doors
    # skip the generic router.
    app.add_middleware(FastDoors, fastapi=app)
    exempt = HEALTH_PATHS if settings.metrics_auth else (*HEALTH_PATHS, "/metrics")
    app.add_middleware(
        Operations,
        metrics=metrics,
        access_log=access,
        route_names=RouteNames(app, known=FAST_ROUTES),
        max_body_bytes=settings.max_body_bytes,
        timeout=settings.request_timeout,
        api_keys=api_keys if settings.auth_enabled else None,
        auth_exempt=exempt,
        metrics_exempt=(*HEALTH_PATHS, "/metrics"),
    )
    return app


def _access_log(settings: Settings) -> AccessLog | None:
    """The access log, unless switched off (ACCESS_LOG) or LOG_LEVEL is above info."""
    level = logging.getLevelName(settings.log_level.upper())
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


FAST_ROUTES = {
    ("POST", "/predict"): "/predict",
}


class FastDoors:
    """ASGI, inside the operations layer: the two prediction doors without the router.

    ``POST /predict`` and ``POST /v2/models/{m}[/versions/{v}]/infer`` go straight to the
    same door functions their FastAPI routes call (the routes stay, for OpenAPI and for
    every other method and path), on the raw body. What is skipped is Starlette's
    ``Request``, route matching over every route, its exception middleware and FastAPI's
    dependency machinery, which together cost more per request than the whole unit
    work. Failures are answered as the routes answer them: OIP errors by ``v2_answer``,
    the rest by the app's own exception handlers, looked up by class as Starlette does.
    """

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = self._door(scope) if scope["type"] == "http" else None
        if call is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.fastapi
        try:
            response = await call(scope, receive)
        except Exception as exc:
            response = await self._handled(scope, receive, exc)
        await send_response(response, send)

    def _door(self, scope: Scope) -> Callable[[Scope, Receive], Awaitable[Response]] | None:
        if scope["method"] != "POST":
            return None
        path: str = scope["path"]
        state = self.fastapi.state
        if path == "/predict":
            predict = state.predict_endpoint

            async def native(scope: Scope, receive: Receive) -> Response:
                response: Response = await predict(await read_body(receive), scope)
                return response

            return native
        if not (path.startswith("/v2/models/") and path.endswith("/infer")):
            return None
        parts = path.split("/")  # "", "v2", "models", m, ["versions", v,] "infer"
        if len(parts) == 5 and parts[3]:
            name, version = parts[3], None
        elif len(parts) == 7 and parts[4] == "versions" and parts[3] and parts[5]:
            name, version = parts[3], parts[5]
        else:
            return None
        infer = state.infer_endpoint

        async def oip(scope: Scope, receive: Receive) -> Response:
            async def door() -> Response:
                response: Response = await infer(name, version, await read_body(receive), scope)
                return response

            return await v2_answer(door())

        return oip

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        request = Request(scope, receive)
        for cls in type(exc).__mro__:
            handler = self.fastapi.exception_handlers.get(cls)
            if handler is not None:
                response = handler(request, exc)
                if inspect.isawaitable(response):
                    response = await response
                return response
        raise exc
