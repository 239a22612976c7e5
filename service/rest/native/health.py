"""Liveness, readiness and problem-type pages (native protocol).

Liveness says the process serves HTTP; readiness says the models are loaded and warmed
and the server is not draining (a SIGTERM flips it at once, so load balancers stop
sending before the worker exits).
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from service.lifecycle import is_draining
from service.rest.native.problems import ProblemDoor, ProblemRoute, describe_kind
from service.rest.native.schemas import HealthResponse

__all__ = ["HealthDoor"]


class HealthDoor(ProblemDoor):
    """``/healthz``, ``/readyz`` and ``/problems/{kind}`` (a ``Door``)."""

    def router(self) -> APIRouter:
        """The door's routes."""
        router = APIRouter(tags=["health"], route_class=ProblemRoute)
        router.add_api_route(
            "/healthz", self.healthz, response_model=HealthResponse, summary="Liveness"
        )
        router.add_api_route(
            "/readyz",
            self.readyz,
            response_model=HealthResponse,
            responses={503: {"model": HealthResponse, "description": "Not ready or draining."}},
            summary="Readiness",
        )
        router.add_api_route("/problems/{kind}", self.problem_type, include_in_schema=False)
        return router

    async def healthz(self) -> HealthResponse:
        """200 while the process answers HTTP."""
        return HealthResponse(status="ok")

    async def readyz(self) -> JSONResponse:
        """200 when at least one model is loaded and warmed and the server is not draining."""
        repository = self.dataplane.repository
        counts = Counter(s.state for s in repository.statuses())
        ready = repository.ready() and not is_draining()
        body = HealthResponse(status="ready" if ready else "not ready", models=dict(counts))
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    async def problem_type(self, kind: str) -> JSONResponse:
        """Describe a problem ``type`` so that problem URIs dereference."""
        described = describe_kind(kind)
        if described is None:
            raise HTTPException(404, f"no problem type {kind!r}")
        return JSONResponse(described)
