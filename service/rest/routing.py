"""Route registration that keeps the app's route list flat.

FastAPI (>= 0.116) keeps an included router as one lazy ``_IncludedRouter`` node; the
HTTP metrics name a request's handler by matching the app's routes
(``service.rest.middleware.RouteNames``), which wants plain routes with their full
paths. The doors still build their routes on an
``APIRouter`` (prefix, tags, shared responses and route class are applied as routes
are created); ``mount_routes`` then adds those finished routes to the app directly.

``document_schema`` is for the doors that read their body by hand (``/predict`` and OIP
infer, for speed and for binary tensors): FastAPI lists only the models its routes
declare, so the schema their ``requestBody`` refers to is added to the components.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

__all__ = ["document_schema", "mount_routes"]


def mount_routes(app: FastAPI, router: APIRouter) -> None:
    """Add every route of `router` to `app` as a direct child."""
    app.router.routes.extend(router.routes)


def document_schema(app: FastAPI, model: type[BaseModel]) -> None:
    """Make sure `model` (and the models it nests) are in the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if model.__name__ not in components:
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in doc.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = doc
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
