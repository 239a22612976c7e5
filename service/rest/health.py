"""Liveness, readiness and problem-type pages.

Liveness says the process serves HTTP; readiness says the models are loaded and warmed
and the server is not draining (a SIGTERM flips it at once, so load balancers stop
sending before the worker exits).
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import JSONResponse

from service.dataplane import DataPlane
from service.lifecycle import is_draining
from service.rest.problems import describe_kind
from service.rest.routing import mount_routes
from service.rest.schemas import HealthResponse

__all__ = ["ServerState", "register_health_endpoints"]


class ServerState:
    """Process state the health endpoints report."""

    @property
    def draining(self) -> bool:
        """True from the moment the worker received SIGTERM."""
        return is_draining()


def register_health_endpoints(app: FastAPI, dataplane: DataPlane, state: ServerState) -> None:
    """Mount ``/healthz``, ``/readyz`` and ``/problems/{kind}`` on `app`."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=HealthResponse, summary="Liveness")
    async def healthz() -> HealthResponse:
        """200 while the process answers HTTP."""
        return HealthResponse(status="ok")

    @router.get(
        "/readyz",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "Not ready or draining."}},
        summary="Readiness",
    )
    async def readyz() -> JSONResponse:
        """200 when at least one model is loaded and warmed and the server is not draining."""
        counts = Counter(s.state for s in dataplane.repository.statuses())
        ready = dataplane.repository.ready() and not state.draining
        body = HealthResponse(status="ready" if ready else "not ready", models=dict(counts))
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @router.get("/problems/{kind}", include_in_schema=False)
    async def problem_type(kind: str) -> JSONResponse:
        """Describe a problem ``type`` so that problem URIs dereference."""
        described = describe_kind(kind)
        if described is None:
            raise HTTPException(404, f"no problem type {kind!r}")
        return JSONResponse(described)

    mount_routes(app, router)
