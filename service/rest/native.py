"""The native JSON API: ``POST /predict`` and ``GET /v1/models[/{name}]``.

A thin door: it turns the body into a ``PredictRequest``, calls the data plane and
turns the result into JSON. Every check lives in the core; errors are raised as they
come and mapped to problem details by ``service.rest.problems``.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from service.dataplane import DataPlane, PredictRequest, PredictResult, QuantityIn
from service.errors import ModelNotFoundError, ModelNotReadyError
from service.models import ModelStatus
from service.rest.problems import problem_responses
from service.rest.schemas import (
    ModelInfo,
    ModelList,
    ModelVersionInfo,
    PredictRequestBody,
    PredictResponseBody,
    TensorInfo,
)
from service.units import dimension_exponents, dimension_text, parse_unit

__all__ = ["register_native_endpoints"]


def register_native_endpoints(app: FastAPI, dataplane: DataPlane, *, inline_rows: int) -> None:
    """Mount ``/predict`` and ``/v1/models`` on `app`."""
    router = APIRouter(tags=["native"], responses=problem_responses(401, 413, 504))

    @router.post(
        "/predict",
        response_model=PredictResponseBody,
        responses=problem_responses(400, 404, 422, 503),
        summary="Predict with unit-tagged inputs",
    )
    async def predict(body: PredictRequestBody, http: Request) -> JSONResponse:
        """Run a model on inputs in any compatible units.

        Inputs are converted to the model's units; outputs come back in the units
        asked for in ``outputs`` (default: the model's). A single value broadcasts
        against batches (lists) in other inputs.

        Returns:
            ``{"model", "version", "outputs": {NAME: {"value", "unit", "dimension"}}}``
        """
        request = PredictRequest(
            inputs={k: QuantityIn(q.value, q.unit) for k, q in body.inputs.items()},
            model=body.model,
            version=body.version,
            outputs=body.outputs,
        )
        http.state.model = body.model or dataplane.default_model  # for the access log
        if _approx_rows(body) > inline_rows:
            result = await anyio.to_thread.run_sync(
                dataplane.predict, request, abandon_on_cancel=True
            )
        else:
            result = dataplane.predict(request)
        http.state.model = result.model
        return JSONResponse(_predict_json(result))

    @router.get("/v1/models", response_model=ModelList, summary="List models and signatures")
    async def list_models() -> ModelList:
        """Every model, each version's signature (units, dimensions, shapes) and status."""
        repo = dataplane.repository
        return ModelList(
            default_model=dataplane.default_model,
            models=[_model_info(dataplane, name) for name in repo.names()],
        )

    @router.get(
        "/v1/models/{name}",
        response_model=ModelInfo,
        responses=problem_responses(404),
        summary="One model's versions and signature",
    )
    async def get_model(name: str) -> ModelInfo:
        """One model's versions, signatures and load status."""
        if name not in dataplane.repository.names():
            raise ModelNotFoundError(
                f"no model named {name!r}; available models: {dataplane.repository.names()}",
                model=name,
                available=dataplane.repository.names(),
            )
        return _model_info(dataplane, name)

    app.include_router(router)


def _approx_rows(body: PredictRequestBody) -> int:
    """A cheap upper bound of the rows, to keep large batches off the event loop."""
    return max(
        (len(q.value) if isinstance(q.value, list) else 1 for q in body.inputs.values()), default=1
    )


def _predict_json(result: PredictResult) -> dict[str, Any]:
    return {
        "model": result.model,
        "version": result.version,
        "outputs": {
            name: {
                "value": out.values.tolist(),
                "unit": out.unit.expression,
                "dimension": dimension_text(out.unit.dimension),
            }
            for name, out in result.outputs.items()
        },
    }


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
        versions=[_version_info(s) for s in statuses],
    )


def _version_info(status: ModelStatus) -> ModelVersionInfo:
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
        inputs=[_tensor_info(t.name, t.unit, t.shape, t.description) for t in manifest.inputs],
        outputs=[_tensor_info(t.name, t.unit, t.shape, t.description) for t in manifest.outputs],
    )


def _tensor_info(name: str, unit: str, shape: list[int], description: str) -> TensorInfo:
    parsed = parse_unit(unit)
    return TensorInfo(
        name=name,
        unit=unit,
        dimension=dimension_text(parsed.dimension),
        exponents=dimension_exponents(parsed.dimension),
        shape=shape,
        description=description,
    )
