"""Route registration that keeps the app's route list flat.

FastAPI (>= 0.116) keeps an included router as one lazy ``_IncludedRouter`` node, and
prometheus-fastapi-instrumentator flattens those nodes again on every request to name
the handler: about 20 us per request here. The doors still build their routes on an
``APIRouter`` (prefix, tags, shared responses and route class are applied as routes
are created); ``mount_routes`` then adds those finished routes to the app directly.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

__all__ = ["mount_routes"]


def mount_routes(app: FastAPI, router: APIRouter) -> None:
    """Add every route of `router` to `app` as a direct child."""
    app.router.routes.extend(router.routes)
