"""The native JSON API: ``POST /predict`` and ``GET /v1/models[/{name}]``.

A thin door: it turns the body into a ``PredictRequest``, calls the data plane and
turns the result into JSON. Every check lives in the core; errors are raised as they
come and shaped into problem details by ``service.rest.native.problems``.

``/predict`` reads its body itself (orjson, stdlib json only for what orjson refuses
but Python's json accepts: NaN, Infinity, huge integers) and validates it with the same
pydantic model FastAPI would, raising the same ``RequestValidationError``: FastAPI's
generic body machinery cost more than the whole unit work of a 1-row request. The
OpenAPI document still names ``PredictRequestBody`` (``openapi_extra``).

Values are written in the dtype the model computes in: a float32 model's outputs as the
shortest text that reads back to the same float32 (``service.tensors.dumps_json``).
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from service.dataplane import (
    DataPlane,
    PredictRequest,
    PredictResult,
    QuantityIn,
)
from service.errors import ModelNotFoundError, ModelNotReadyError
from service.models import ModelStatus, TensorSpec
from service.models.architectures import architecture_origin
from service.models.domains import declared
from service.rest.asgi import header
from service.rest.native.problems import ProblemDoor, ProblemRoute, problem_responses
from service.rest.native.schemas import (
    DomainInfo,
    ModelInfo,
    ModelList,
    ModelVersionInfo,
    PredictRequestBody,
    PredictResponseBody,
    TensorInfo,
)
from service.rest.routing import raw_body
from service.tensors import dumps_json, json_values, loads_json
from service.units import dimension_exponents, parse_unit

__all__ = ["NativeDoor", "parse_predict_body"]

_PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequestBody"}}
        },
    }
}


class NativeDoor(ProblemDoor):
    """``POST /predict`` and ``GET /v1/models[/{name}]`` over the data plane (a ``Door``)."""

    documented = (PredictRequestBody,)

    def router(self) -> APIRouter:
        """The door's routes."""
        router = APIRouter(
            tags=["native"], responses=problem_responses(401, 413, 504), route_class=ProblemRoute
        )
        router.add_api_route(
            "/predict",
            self.predict,
            methods=["POST"],
            response_model=PredictResponseBody,
            responses=problem_responses(400, 404, 422, 503),
            summary="Predict with unit-tagged inputs",
            openapi_extra=_PREDICT_BODY,
        )
        router.add_api_route(
            "/v1/models",
            self.list_models,
            response_model=ModelList,
            summary="List models and signatures",
        )
        router.add_api_route(
            "/v1/models/{name}",
            self.get_model,
            response_model=ModelInfo,
            responses=problem_responses(404),
            summary="One model's versions and signature",
        )
        return router

    @raw_body
    async def predict(self, request: Request) -> Response:
        """Run a model on inputs in any compatible units.

        Inputs are converted to the model's units; outputs come back in the units
        asked for in ``outputs`` (default: the model's). A single value broadcasts
        against batches (lists) in other inputs.

        Returns:
            ``{"model", "version", "outputs": {NAME: {"value", "unit", "dimension"}}}``
        """
        body = parse_predict_body(await request.body(), header(request.scope, b"content-type"))
        result = await self.dataplane.predict_async(
            PredictRequest(
                inputs={k: QuantityIn(q.value, q.unit) for k, q in body.inputs.items()},
                model=body.model,
                version=body.version,
                outputs=body.outputs,
            )
        )
        return Response(dumps_json(_predict_json(result)), media_type="application/json")

    async def list_models(self) -> ModelList:
        """Every model, each version's signature (units, dimensions, shapes) and status."""
        dataplane = self.dataplane
        return ModelList(
            default_model=dataplane.default_model,
            models=[_model_info(dataplane, name) for name in dataplane.repository.names()],
        )

    async def get_model(self, name: str) -> ModelInfo:
        """One model's versions, signatures and load status."""
        names = self.dataplane.repository.names()
        if name not in names:
            raise ModelNotFoundError(
                f"no model named {name!r}; available models: {names}",
                model=name,
                available=names,
            )
        return _model_info(self.dataplane, name)


def parse_predict_body(raw: bytes, content_type: str | None) -> PredictRequestBody:
    """The body as FastAPI would read it for a ``PredictRequestBody`` parameter: JSON
    when the content type is JSON, otherwise the bytes (refused as invalid)."""
    if not raw:  # FastAPI's answer to a missing required body
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    doc: Any = _read_json(raw) if _is_json(content_type) else raw
    try:
        return PredictRequestBody.model_validate(doc, from_attributes=True)  # as FastAPI
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in errors], body=doc
        ) from None


def _is_json(content_type: str | None) -> bool:
    if not content_type:  # FastAPI's strict_content_type: no type, no JSON
        return False
    if content_type == "application/json" or content_type.startswith("application/json;"):
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _read_json(raw: bytes) -> Any:
    """Python's json, as FastAPI reads bodies: NaN/Infinity literals and big integers are
    accepted here (the core refuses them with a precise problem), bad JSON is a 400."""
    try:
        return loads_json(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
            body=exc.doc,
        ) from None
    except Exception as exc:  # RecursionError, UnicodeDecodeError: as FastAPI answers
        raise HTTPException(400, "There was an error parsing the body") from exc


def _predict_json(result: PredictResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": result.model,
        "version": result.version,
        "outputs": {
            name: {
                "value": json_values(out.values),
                "unit": out.unit.expression,
                "dimension": out.unit.dimension_name,
            }
            for name, out in result.outputs.items()
        },
    }
    if result.outside:
        body["outside_domain"] = result.rows_outside()
    return body


def _model_info(dataplane: DataPlane, name: str) -> ModelInfo:
    repo = dataplane.repository
    statuses = [s for s in repo.statuses() if s.name == name]
    try:
        default_version: str | None = repo.get(name).manifest.version
    except (ModelNotFoundError, ModelNotReadyError):  # no ready version: statuses say why
        default_version = None
    return ModelInfo(
        name=name,
        default_version=default_version,
        versions=[_version_info(dataplane, s) for s in statuses],
    )


def _version_info(dataplane: DataPlane, status: ModelStatus) -> ModelVersionInfo:
    manifest = status.manifest
    if manifest is None:
        return ModelVersionInfo(
            name=status.name, version=status.version, state=status.state, reason=status.reason
        )
    return ModelVersionInfo(
        name=status.name,
        version=status.version,
        state=status.state,
        reason=status.reason,
        description=manifest.description,
        architecture=manifest.architecture.name,
        architecture_origin=architecture_origin(manifest.architecture.name),
        inputs=[_tensor_info(t) for t in manifest.inputs],
        outputs=[_tensor_info(t) for t in manifest.outputs],
        domain_policy=manifest.domain_policy or dataplane.domain_policy,
    )


def _tensor_info(spec: TensorSpec) -> TensorInfo:
    parsed = parse_unit(spec.unit)
    domain = declared(spec)
    return TensorInfo(
        name=spec.name,
        unit=spec.unit,
        dimension=parsed.dimension_name,
        exponents=dimension_exponents(parsed.dimension),
        shape=spec.shape,
        description=spec.description,
        domain=None if domain is None else DomainInfo.model_validate(domain),
    )
