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
from service.models import ModelRepository, default_repository_path
from service.rest.health import ServerState, register_health_endpoints
from service.rest.native import register_native_endpoints
from service.rest.problems import install_problem_handlers
from service.rest.units_api import register_units_endpoints
from service.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("service")

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
    logging.basicConfig(level=settings.log_level.upper())
    torch.set_num_threads(settings.torch_threads)
    if repository is None:
        root = settings.model_repository or default_repository_path()
        repository = ModelRepository.load(root, trusted=settings.model_repository_trusted)
    for status in repository.statuses():
        if status.state != "ready":
            log.warning("model %s/%s failed to load: %s", status.name, status.version, status.reason)
    dataplane = DataPlane(
        repository,
        default_model=settings.default_model,
        max_unit_length=settings.max_unit_length,
        max_rows=settings.max_rows,
    )
    state = ServerState()
    app = FastAPI(
        title="dimtensor-serve",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "native", "description": "Predictions with unit-tagged JSON."},
            {"name": "units", "description": "Parse and convert unit expressions."},
            {"name": "health", "description": "Liveness and readiness."},
        ],
    )
    app.state.settings = settings
    app.state.dataplane = dataplane
    app.state.server = state
    install_problem_handlers(app)
    register_health_endpoints(app, dataplane, state)
    register_native_endpoints(app, dataplane, inline_rows=settings.inline_rows)
    register_units_endpoints(app, dataplane)
    return app
