"""The Open Inference Protocol (KServe "V2") REST door, with units in ``parameters.unit``.

Thin over the data plane: tensors become ``PredictRequest`` quantities (the first axis
is the batch; ``service.rest.oip.tensors``), results become output tensors. Errors are
``{"error": "..."}`` with 400 (bad input, including units and dimensions), 404 (unknown
model) or 503 (not ready), shaped by ``OipShaper`` from the same domain errors the
native door shapes into problem details.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

from service import __version__
from service.dataplane import DataPlane, PredictResult
from service.errors import ModelNotReadyError, OverloadedError, ServiceError
from service.lifecycle import is_draining
from service.models import LoadedModel, TensorSpec
from service.models.domains import declared_json
from service.rest.asgi import header
from service.rest.native.problems import status_for
from service.rest.oip.binary import DATATYPES, HEADER, encode_response, wants_binary
from service.rest.oip.datamodels import (
    InferenceRequest,
    InferenceResponse,
    LiveResponse,
    MetadataTensor,
    ModelMetadataResponse,
    ModelReadyResponse,
    ReadyResponse,
    ServerMetadataResponse,
    V2Error,
)
from service.rest.oip.tensors import parse_infer, to_predict_request, to_response
from service.rest.routing import DoorRoute, Refusal, raw_body
from service.tensors import dumps_json
from service.units import ParsedUnit

__all__ = ["EXTENSIONS", "OIP_ERRORS", "OipDoor", "OipRoute", "OipShaper"]

log = logging.getLogger("service.rest")

EXTENSIONS = ["units"]
HEADER_KEY = HEADER.encode()
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": V2Error, "description": text}
    for status, text in (
        (400, "Bad input: tensor, unit, dimension or body."),
        (401, "API key missing or wrong (when auth is on)."),
        (404, "Unknown model or version."),
        (413, "Body over MAX_BODY_BYTES."),
        (503, "Not ready."),
        (504, "Request over REQUEST_TIMEOUT."),
    )
}


class OipShaper:
    """The protocol's errors: ``{"error": message}`` (see ``ErrorShaper``); a domain error
    keeps the native status, except that the protocol says 400 where native says 422."""

    def error(self, exc: Exception, scope: Scope) -> Response:
        """Domain, validation and HTTP errors by their status; anything else a logged 500."""
        if isinstance(exc, ServiceError):
            status = status_for(exc)
            response = _error(400 if status == 422 else status, exc.message)
            if isinstance(exc, OverloadedError):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if isinstance(exc, RequestValidationError):
            first = exc.errors()[0] if exc.errors() else {}
            loc = ".".join(str(p) for p in first.get("loc", ()))
            return _error(400, f"invalid inference request at {loc}: {first.get('msg')}")
        if isinstance(exc, HTTPException):
            response = _error(exc.status_code, str(exc.detail))
            response.headers.update(exc.headers or {})
            return response
        request_id = scope.get("state", {}).get("request_id")
        log.error(
            "unhandled error serving %s %s", scope.get("method"), scope.get("path"), exc_info=exc
        )
        return _error(500, f"the server failed to handle this request (request id {request_id})")

    def refusal(self, scope: Scope, refusal: Refusal) -> Response:
        """A refusal of the operations layer: its sentence as ``{"error"}``."""
        response = _error(refusal.status, refusal.detail)
        response.headers.update(refusal.headers)
        return response


OIP_ERRORS = OipShaper()


class OipRoute(DoorRoute):
    """A route of the Open Inference Protocol (everything under ``/v2``)."""

    shaper = OIP_ERRORS


def _error(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` with the protocol's status: the only OIP error body."""
    return JSONResponse({"error": message}, status_code=status)


class OipDoor:
    """``/v2/...`` over the data plane (a ``Door``).

    Args:
        dataplane: the one prediction path.
        missing_unit: "refuse" an input without ``parameters.unit``, or read it in the
            "model"'s unit (``OIP_MISSING_UNIT``).
    """

    prefix = "/v2"
    shaper = OIP_ERRORS
    documented = (InferenceRequest,)

    def __init__(self, dataplane: DataPlane, *, missing_unit: str) -> None:
        self.dataplane = dataplane
        self.missing_unit = missing_unit

    def router(self) -> APIRouter:
        """The door's routes."""
        router = APIRouter(
            prefix="/v2",
            tags=["open inference protocol"],
            route_class=OipRoute,
            responses=_ERRORS,
        )
        router.add_api_route(
            "",
            self.server_metadata,
            response_model=ServerMetadataResponse,
            summary="Server metadata",
        )
        router.add_api_route(
            "/health/live", self.live, response_model=LiveResponse, summary="Server live"
        )
        router.add_api_route(
            "/health/ready", self.ready, response_model=ReadyResponse, summary="Server ready"
        )
        for suffix in ("", "/versions/{model_version}"):
            router.add_api_route(
                f"/models/{{model_name}}{suffix}",
                self.model_metadata,
                response_model=ModelMetadataResponse,
            )
            router.add_api_route(
                f"/models/{{model_name}}{suffix}/ready",
                self.model_ready,
                response_model=ModelReadyResponse,
            )
        for path, endpoint in (
            ("/models/{model_name}/infer", self.infer),
            ("/models/{model_name}/versions/{model_version}/infer", self.infer_version),
        ):
            router.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                response_model=InferenceResponse,
                openapi_extra=_INFER_BODY,
            )
        return router

    async def server_metadata(self) -> ServerMetadataResponse:
        """``{"name", "version", "extensions": ["units"]}``."""
        return ServerMetadataResponse(
            name="dimtensor-serve", version=__version__, extensions=EXTENSIONS
        )

    async def live(self) -> LiveResponse:
        """``{"live": true}`` while the process serves."""
        return LiveResponse(live=True)

    async def ready(self) -> JSONResponse:
        """``{"ready": bool}``; 503 while not ready or draining."""
        ok = self.dataplane.repository.ready() and not is_draining()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    async def model_metadata(
        self, model_name: str, model_version: str | None = None
    ) -> ModelMetadataResponse:
        """Name, versions, platform and each tensor with ``parameters.unit``."""
        repo = self.dataplane.repository
        model = repo.get(model_name, model_version)
        return _metadata(model, repo.versions(model_name), self.dataplane.policy_for(model))

    async def model_ready(self, model_name: str, model_version: str | None = None) -> JSONResponse:
        """``{"name", "ready"}``: 200 when ready, 503 when known but not ready."""
        try:
            self.dataplane.repository.get(model_name, model_version)
        except ModelNotReadyError:
            return JSONResponse({"name": model_name, "ready": False}, status_code=503)
        return JSONResponse({"name": model_name, "ready": True})

    @raw_body
    async def infer(self, request: Request, model_name: str) -> Response:
        """Run inference; units from ``inputs[i].parameters.unit``, wanted output units
        from ``outputs[j].parameters.unit``; the response echoes ``id``. JSON tensors or
        the binary tensor data extension (``Inference-Header-Content-Length``)."""
        return await self._infer(request, model_name, None)

    @raw_body
    async def infer_version(
        self, request: Request, model_name: str, model_version: str
    ) -> Response:
        """Run inference on one version of the model (as ``infer``)."""
        return await self._infer(request, model_name, model_version)

    async def _infer(self, request: Request, name: str, version: str | None) -> Response:
        doc, body = parse_infer(await request.body(), header(request.scope, HEADER_KEY))
        model = self.dataplane.resolve(name, version)
        result = await self.dataplane.predict_async(
            to_predict_request(model, body, self.missing_unit)
        )
        return _encode(result, body, doc)


_INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "JSON request then raw tensors (binary tensor data extension).",
            },
        },
    }
}


def _encode(result: PredictResult, body: InferenceRequest, doc: dict[str, Any]) -> Response:
    response = to_response(result, body)
    wanted = {o.get("name"): o for o in doc.get("outputs") or [] if isinstance(o, dict)}
    binary = {
        o["name"]: result.outputs[o["name"]].values
        for o in response["outputs"]
        if wants_binary(doc, wanted.get(o["name"]))
    }
    if not binary:
        return Response(dumps_json(response), media_type="application/json")
    content, header_length = encode_response(response, binary)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_length)},
    )


def _metadata(model: LoadedModel, versions: list[str], policy: str) -> ModelMetadataResponse:
    """Units as ``parameters.unit``/``dimension``; an input's validity domain as
    ``parameters.domain`` (JSON text: parameter values are scalars) and the model's
    domain policy as ``parameters.domain_policy`` when any input declares a domain.
    Every tensor's datatype is the model's dtype (what it computes in and answers in;
    inputs of any numeric datatype are accepted and converted)."""
    m = model.manifest
    datatype = DATATYPES[model.dtype]

    def tensor(spec: TensorSpec, unit: ParsedUnit) -> MetadataTensor:
        params: dict[str, str | int | float | bool] = {
            "unit": unit.expression,
            "dimension": unit.dimension_name,
        }
        domain = declared_json(spec)
        if domain is not None:
            params["domain"] = domain
        return MetadataTensor(
            name=spec.name, datatype=datatype, shape=[-1, *spec.shape], parameters=params
        )

    return ModelMetadataResponse(
        name=m.name,
        versions=versions,
        platform="pytorch_dimtensor",
        inputs=[tensor(s, u) for s, u in zip(m.inputs, model.input_units, strict=True)],
        outputs=[tensor(s, u) for s, u in zip(m.outputs, model.output_units, strict=True)],
        parameters=None if model.domain is None else {"domain_policy": policy},
    )
