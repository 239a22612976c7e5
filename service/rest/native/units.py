"""Unit endpoints: ``GET /v1/units/parse`` and ``POST /v1/units/convert`` (native protocol).

Lets a client check an expression before sending it with a prediction, with the same
grammar and limits the prediction path uses.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from service.rest.native.problems import ProblemDoor, ProblemRoute, problem_responses
from service.rest.native.schemas import ConvertRequest, ConvertResponse, UnitInfo
from service.units import dimension_exponents

__all__ = ["UnitsDoor"]


class UnitsDoor(ProblemDoor):
    """``/v1/units/...`` over the data plane's parser and converter (a ``Door``)."""

    def router(self) -> APIRouter:
        """The door's routes."""
        router = APIRouter(
            prefix="/v1/units",
            tags=["units"],
            responses=problem_responses(400, 401, 413, 422, 504),
            route_class=ProblemRoute,
        )
        router.add_api_route("/parse", self.parse, response_model=UnitInfo, summary="Parse a unit")
        router.add_api_route(
            "/convert",
            self.convert,
            methods=["POST"],
            response_model=ConvertResponse,
            summary="Convert values",
        )
        return router

    async def parse(
        self,
        expr: str = Query(..., description="Unit expression.", examples=["kg*m^2/s^2"]),
    ) -> UnitInfo:
        """Dimension, SI scale, offset and SI form of a unit expression."""
        unit = self.dataplane.parse(expr, role="unit", name="expr")
        return UnitInfo(
            expression=unit.expression,
            dimension=unit.dimension_name,
            exponents=dimension_exponents(unit.dimension),
            scale=unit.scale,
            offset=unit.offset,
            si=unit.si_expression,
        )

    async def convert(self, body: ConvertRequest) -> ConvertResponse:
        """Convert a number or nested list between units of the same dimension.

        Absolute temperatures convert with their offsets (``20 degC`` -> ``293.15 K``).
        """
        values, unit = self.dataplane.convert(body.value, body.source, body.target)
        return ConvertResponse(value=values.tolist(), unit=unit.expression)
