"""Unit endpoints: ``GET /v1/units/parse`` and ``POST /v1/units/convert``.

Lets a client check an expression before sending it with a prediction, with the same
grammar and limits the prediction path uses.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Query

from service.dataplane import DataPlane
from service.rest.problems import problem_responses
from service.rest.routing import mount_routes
from service.rest.schemas import ConvertRequest, ConvertResponse, UnitInfo
from service.units import dimension_exponents

__all__ = ["register_units_endpoints"]


def register_units_endpoints(app: FastAPI, dataplane: DataPlane) -> None:
    """Mount ``/v1/units/...`` on `app`."""
    router = APIRouter(
        prefix="/v1/units", tags=["units"], responses=problem_responses(400, 401, 413, 422, 504)
    )

    @router.get("/parse", response_model=UnitInfo, summary="Parse a unit")
    async def parse(
        expr: str = Query(..., description="Unit expression.", examples=["kg*m^2/s^2"]),
    ) -> UnitInfo:
        """Dimension, SI scale, offset and SI form of a unit expression."""
        unit = dataplane.parse(expr, role="unit", name="expr")
        return UnitInfo(
            expression=unit.expression,
            dimension=unit.dimension_name,
            exponents=dimension_exponents(unit.dimension),
            scale=unit.scale,
            offset=unit.offset,
            si=unit.si_expression,
        )

    @router.post("/convert", response_model=ConvertResponse, summary="Convert values")
    async def convert(body: ConvertRequest) -> ConvertResponse:
        """Convert a number or nested list between units of the same dimension.

        Absolute temperatures convert with their offsets (``20 degC`` -> ``293.15 K``).
        """
        values, unit = dataplane.convert(body.value, body.source, body.target)
        return ConvertResponse(value=values.tolist(), unit=unit.expression)

    mount_routes(app, router)
