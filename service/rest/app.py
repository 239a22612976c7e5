"""The application factory: settings -> repository -> data plane -> doors.

``create_app()`` is what gunicorn imports in each worker (``service.rest.app:create_app()``)
and what tests call with their own settings or repository. Models load here, before the
worker accepts connections, so a worker that serves is a worker with warmed models.
"""

from __future__ import annotations

import logging

import torch
from fastapi import FastAPI

from service import __version__
from service.dataplane import DataPlane
from service.logs import configure_logging
from service.metrics import Metrics, instrument_http
from service.models import ModelRepository, default_repository_path
from service.rest.health import ServerState, register_health_endpoints
from service.rest.middleware import (
    AuthMiddleware,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    TimeoutMiddleware,
)
from service.rest.native import register_native_endpoints
from service.rest.problems import install_problem_handlers
from service.rest.units_api import register_units_endpoints
from service.rest.v2_endpoints import register_v2_endpoints
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
    app = FastAPI(
        title="dimtensor-serve",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
    )
    metrics = Metrics()
    metrics.set_models(repository.statuses())
    dataplane = DataPlane(
        repository,
        observer=metrics,
        default_model=settings.default_model,
        max_unit_length=settings.max_unit_length,
        max_rows=settings.max_rows,
    )
    state = ServerState()
    app.state.settings = settings
    app.state.dataplane = dataplane
    app.state.server = state
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
    # Outermost last: request id and access log see every answer, auth runs before the
    # body is read, the body limit before parsing, the timeout around the door itself.
    app.add_middleware(TimeoutMiddleware, seconds=settings.request_timeout)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.auth_enabled:
        exempt = HEALTH_PATHS if settings.metrics_auth else (*HEALTH_PATHS, "/metrics")
        app.add_middleware(AuthMiddleware, keys=api_keys, exempt=exempt)
    instrument_http(app, metrics, exempt=HEALTH_PATHS)
    app.add_middleware(RequestContextMiddleware)
    return app
