"""The Open Inference Protocol (KServe "V2") REST door, with units in ``parameters.unit``.

Thin over the data plane: tensors become ``PredictRequest`` quantities (the first axis
is the batch), results become output tensors. Errors are ``{"error": "..."}`` with
400 (bad input, including units and dimensions), 404 (unknown model) or 503 (not
ready), mapped by ``V2Route`` from the same domain errors the native door maps.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio.to_thread
import numpy as np
import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from service import __version__
from service.dataplane import (
    DataPlane,
    PredictRequest,
    PredictResult,
    QuantityIn,
)
from service.errors import InputError, ModelNotReadyError, OverloadedError, ServiceError
from service.models import LoadedModel
from service.rest.asgi import header
from service.rest.health import ServerState
from service.rest.problems import status_for
from service.rest.routing import document_schema, mount_routes
from service.rest.v2_binary import DTYPES, HEADER, encode_response, split_request, wants_binary
from service.rest.v2_datamodels import (
    InferenceRequest,
    InferenceResponse,
    LiveResponse,
    MetadataTensor,
    ModelMetadataResponse,
    ModelReadyResponse,
    ReadyResponse,
    RequestInput,
    ServerMetadataResponse,
    V2Error,
)
from service.tensors import FloatArray
from service.units import ParsedUnit

__all__ = ["EXTENSIONS", "register_v2_endpoints", "v2_answer"]

EXTENSIONS = ["units"]
HEADER_KEY = HEADER.encode()
NUMERIC_DATATYPES = frozenset(DTYPES)
FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
INTEGER_LIMITS = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
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


class InvalidTensorError(InputError):
    """A tensor that breaks the protocol itself (datatype, shape vs data)."""

    kind = "invalid-tensor"
    title = "Invalid tensor"


def v2_error(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` with the protocol's status."""
    return JSONResponse({"error": message}, status_code=status)


async def v2_answer(call: Awaitable[Response]) -> Response:
    """Await an OIP endpoint, mapping its failures to ``{"error"}`` (422 becomes 400)."""
    try:
        return await call
    except ServiceError as exc:
        status = status_for(exc)
        response = v2_error(400 if status == 422 else status, exc.message)
        if isinstance(exc, OverloadedError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except RequestValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return v2_error(400, f"invalid inference request at {loc}: {first.get('msg')}")
    except HTTPException as exc:
        return v2_error(exc.status_code, str(exc.detail))


class V2Route(APIRoute):
    """Maps every failure inside an OIP endpoint to ``{"error"}`` (see :func:`v2_answer`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await v2_answer(handler(request))

        return route


def register_v2_endpoints(
    app: FastAPI, dataplane: DataPlane, state: ServerState, *, missing_unit: str, inline_rows: int
) -> None:
    """Mount ``/v2/...`` on `app`. `missing_unit` is "refuse" or "model"."""
    router = APIRouter(
        prefix="/v2", tags=["open inference protocol"], route_class=V2Route, responses=_ERRORS
    )
    repo = dataplane.repository

    @router.get("", response_model=ServerMetadataResponse, summary="Server metadata")
    async def server_metadata() -> ServerMetadataResponse:
        """``{"name", "version", "extensions": ["units"]}``."""
        return ServerMetadataResponse(
            name="dimtensor-serve", version=__version__, extensions=EXTENSIONS
        )

    @router.get("/health/live", response_model=LiveResponse, summary="Server live")
    async def live() -> LiveResponse:
        """``{"live": true}`` while the process serves."""
        return LiveResponse(live=True)

    @router.get("/health/ready", response_model=ReadyResponse, summary="Server ready")
    async def ready() -> JSONResponse:
        """``{"ready": bool}``; 503 while not ready or draining."""
        ok = repo.ready() and not state.draining
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @router.get("/models/{model_name}", response_model=ModelMetadataResponse)
    @router.get(
        "/models/{model_name}/versions/{model_version}", response_model=ModelMetadataResponse
    )
    async def model_metadata(
        model_name: str, model_version: str | None = None
    ) -> ModelMetadataResponse:
        """Name, versions, platform and each tensor with ``parameters.unit``."""
        model = repo.get(model_name, model_version)
        return _metadata(model, repo.versions(model_name))

    @router.get("/models/{model_name}/ready", response_model=ModelReadyResponse)
    @router.get(
        "/models/{model_name}/versions/{model_version}/ready", response_model=ModelReadyResponse
    )
    async def model_ready(model_name: str, model_version: str | None = None) -> JSONResponse:
        """``{"name", "ready"}``: 200 when ready, 503 when known but not ready."""
        try:
            repo.get(model_name, model_version)
        except ModelNotReadyError:
            return JSONResponse({"name": model_name, "ready": False}, status_code=503)
        return JSONResponse({"name": model_name, "ready": True})

    @router.post(
        "/models/{model_name}/infer", response_model=InferenceResponse, openapi_extra=_INFER_BODY
    )
    @router.post(
        "/models/{model_name}/versions/{model_version}/infer",
        response_model=InferenceResponse,
        openapi_extra=_INFER_BODY,
    )
    async def infer(model_name: str, http: Request, model_version: str | None = None) -> Response:
        """Run inference; units from ``inputs[i].parameters.unit``, wanted output units
        from ``outputs[j].parameters.unit``; the response echoes ``id``. JSON tensors or
        the binary tensor data extension (``Inference-Header-Content-Length``)."""
        return await answer(model_name, model_version, await http.body(), http.scope)

    async def answer(
        model_name: str, model_version: str | None, raw: bytes, scope: Scope
    ) -> Response:
        """The door itself, on the raw body: the route above and the app's fast door
        (``service.rest.app.FastDoors``) both call it."""
        scope.setdefault("state", {})["model"] = model_name  # for the access log
        doc, body = _parse_infer(raw, header(scope, HEADER_KEY))
        model = repo.get(model_name, model_version)
        request = _to_predict_request(model, body, missing_unit)
        if _rows_hint(body) > inline_rows:
            result = await anyio.to_thread.run_sync(
                dataplane.predict, request, abandon_on_cancel=True
            )
        else:
            result = await dataplane.predict_async(request)
        return _encode(result, body, doc)

    app.state.infer_endpoint = answer  # for the app's fast door (service.rest.app)
    mount_routes(app, router)
    document_schema(app, InferenceRequest)


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


def _parse_infer(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], InferenceRequest]:
    try:
        doc = split_request(raw, header_length)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ServiceError):
            raise
        raise InvalidTensorError(f"the body is not a valid JSON inference request: {exc}") from None
    try:
        return doc, InferenceRequest.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidTensorError(f"invalid inference request at {loc}: {first['msg']}") from None


def _encode(result: PredictResult, body: InferenceRequest, doc: dict[str, Any]) -> Response:
    response = _to_response(result, body)
    wanted = {o.get("name"): o for o in doc.get("outputs") or [] if isinstance(o, dict)}
    binary = {
        o["name"]: result.outputs[o["name"]].values
        for o in response["outputs"]
        if wants_binary(doc, wanted.get(o["name"]))
    }
    if not binary:
        return Response(orjson.dumps(response), media_type="application/json")
    content, header_length = encode_response(response, binary)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_length)},
    )


def _rows_hint(body: InferenceRequest) -> int:
    """The batch size the request claims, to keep large batches off the event loop."""
    return max((t.shape[0] if t.shape else 1 for t in body.inputs), default=1)


def _metadata(model: LoadedModel, versions: list[str]) -> ModelMetadataResponse:
    m = model.manifest

    def tensor(name: str, shape: list[int], unit: ParsedUnit) -> MetadataTensor:
        params: dict[str, str | int | float | bool] = {
            "unit": unit.expression,
            "dimension": unit.dimension_name,
        }
        return MetadataTensor(name=name, datatype="FP64", shape=[-1, *shape], parameters=params)

    return ModelMetadataResponse(
        name=m.name,
        versions=versions,
        platform="pytorch_dimtensor",
        inputs=[
            tensor(s.name, s.shape, u) for s, u in zip(m.inputs, model.input_units, strict=True)
        ],
        outputs=[
            tensor(s.name, s.shape, u) for s, u in zip(m.outputs, model.output_units, strict=True)
        ],
    )


def _to_predict_request(
    model: LoadedModel, body: InferenceRequest, missing_unit: str
) -> PredictRequest:
    declared = model.inputs_by_name
    inputs: dict[str, QuantityIn] = {}
    for tensor in body.inputs:
        name = tensor.name
        if name in inputs:
            raise InvalidTensorError(f"input '{name}' appears twice in the request", input=name)
        unit = _unit_parameter(tensor.parameters, "input", name)
        if unit is None and missing_unit == "refuse" and name in declared:
            u = declared[name][1]
            raise InvalidTensorError(
                f"input '{name}' has no parameters.unit; expected a unit of dimension "
                f'{u.dimension_name}, e.g. "{u.expression}" (set OIP_MISSING_UNIT=model '
                "to read a missing unit as the model's)",
                input=name,
            )
        spec = declared.get(name)
        per_row = None if spec is None else spec[0].shape
        inputs[name] = QuantityIn(_tensor_values(tensor, per_row), unit)
    outputs: dict[str, str | None] = {}
    for wanted in body.outputs or []:
        outputs[wanted.name] = _unit_parameter(wanted.parameters, "output", wanted.name)
    return PredictRequest(
        inputs=inputs,
        model=model.manifest.name,
        version=model.manifest.version,
        outputs=outputs,
        protocol="v2",
    )


def _unit_parameter(parameters: dict[str, Any] | None, role: str, name: str) -> str | None:
    unit = (parameters or {}).get("unit")
    if unit is None or type(unit) is str:
        return unit
    raise InvalidTensorError(
        f"{role} '{name}': parameters.unit must be a string such as \"m/s\", received {unit!r}"
    )


def _tensor_values(tensor: RequestInput, per_row: list[int] | None) -> FloatArray | list[float]:
    """Check datatype and shape against the data; the first axis is the batch."""
    data = tensor.data
    if (
        per_row == []
        and tensor.shape == [1]
        and type(data) is list
        and len(data) == 1
        and type(data[0]) is float
        and tensor.datatype in FLOAT_DATATYPES
    ):
        return data  # one row of a scalar input: the core reads [x] as the native door's
    where = f"input '{tensor.name}'"
    if tensor.datatype not in NUMERIC_DATATYPES:
        raise InvalidTensorError(
            f"{where}: datatype {tensor.datatype!r} is not supported; expected one of "
            f"{sorted(NUMERIC_DATATYPES)}"
        )
    if any(d < 0 for d in tensor.shape):
        raise InvalidTensorError(f"{where}: shape {tensor.shape} has a negative dimension")
    data = data if isinstance(data, list) else [data]
    flat = _flatten(data, where)
    expected = math.prod(tensor.shape)
    if len(flat) != expected:
        raise InvalidTensorError(
            f"{where}: shape {tensor.shape} holds {expected} values, received {len(flat)}"
        )
    _check_datatype(flat, tensor.datatype, where)
    try:
        arr = np.asarray(flat, dtype=np.float64).reshape(tensor.shape)
    except OverflowError:
        raise InvalidTensorError(f"{where}: a value is too large for a 64-bit float") from None
    if per_row is not None and per_row == [] and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # [N, 1] is the usual way to send N scalars
    if per_row is not None and arr.ndim == len(per_row):
        arr = arr[np.newaxis]  # no batch axis: one row
    return arr


def _flatten(data: list[Any], where: str) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > 32:
                    raise InvalidTensorError(f"{where}: data nested deeper than 32 levels")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _check_datatype(flat: list[Any], datatype: str, where: str) -> None:
    for value in flat:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidTensorError(
                f"{where}: {datatype} data must be numbers, received {value!r}"
            )
    limits = INTEGER_LIMITS.get(datatype)
    if limits is not None:
        low, high = limits
        bad = next((v for v in flat if not isinstance(v, int) or not low <= v <= high), None)
        if bad is not None:
            raise InvalidTensorError(
                f"{where}: {datatype} data must be integers in [{low}, {high}], received {bad!r}"
            )


def _to_response(result: PredictResult, body: InferenceRequest) -> dict[str, Any]:
    """``InferenceResponse`` as a dict (built directly: no validate/dump round trip)."""
    wanted = [o.name for o in body.outputs] if body.outputs else list(result.outputs)
    outputs = []
    for name in wanted:
        out = result.outputs[name]
        values = out.values if result.batched else out.values[np.newaxis]
        outputs.append(
            {
                "name": name,
                "shape": list(values.shape),
                "datatype": "FP64",
                "parameters": {
                    "unit": out.unit.expression,
                    "dimension": out.unit.dimension_name,
                },
                "data": values.ravel().tolist(),
            }
        )
    response: dict[str, Any] = {"model_name": result.model, "model_version": result.version}
    if body.id is not None:
        response["id"] = body.id
    response["outputs"] = outputs
    return response
