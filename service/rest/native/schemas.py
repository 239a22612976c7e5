"""JSON shapes of the native API (``/predict``, ``/v1/...``), with OpenAPI examples.

Values are declared as "a number or a nested array of numbers" for the schema, but
validated by the core (``service.tensors``), so the rules live in one place and a
10,000-row batch is not walked twice.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

__all__ = [
    "ConvertRequest",
    "ConvertResponse",
    "DomainBound",
    "DomainInfo",
    "HealthResponse",
    "ModelInfo",
    "ModelList",
    "ModelVersionInfo",
    "OutputQuantity",
    "PredictRequestBody",
    "PredictResponseBody",
    "Problem",
    "QuantityPayload",
    "TensorInfo",
    "UnitInfo",
]

_NESTED_NUMBERS: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "array"}]}},
    ],
    "description": "A number, or a (nested) list of numbers: a batch of rows.",
}
Values = Annotated[Any, WithJsonSchema(_NESTED_NUMBERS)]


def _version_text(value: Any) -> Any:
    """Versions are directory names; clients often send ``"version": 1``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


_PREDICT_EXAMPLE: dict[str, Any] = {
    "model": "projectile",
    "inputs": {
        "speed": {"value": 72, "unit": "km/h"},
        "angle": {"value": [30, 45, 60], "unit": "deg"},
        "g": {"value": 9.80665, "unit": "m/s^2"},
    },
    "outputs": {"range": "m", "flight_time": "ms"},
}


class QuantityPayload(BaseModel):
    """A value with the unit it is expressed in."""

    model_config = ConfigDict(extra="forbid")

    value: Values = Field(..., description="A number or a nested list of numbers.")
    unit: str = Field(..., description="Unit expression, e.g. 'km/h', 'kg*m^2/s^2', 'degC'.")


class PredictRequestBody(BaseModel):
    """``POST /predict``: inputs with units, optional output units."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PREDICT_EXAMPLE]})

    model: str | None = Field(None, description="Model name; omitted: the default model.")
    version: Annotated[str | None, BeforeValidator(_version_text)] = Field(
        None, description="Model version (a number is read as its text); omitted: the latest ready."
    )
    inputs: dict[str, QuantityPayload] = Field(..., description="Every declared input, by name.")
    outputs: dict[str, str] | None = Field(
        None, description="Unit wanted per output name; outputs not listed use the model's unit."
    )


class OutputQuantity(BaseModel):
    """One output value in the unit asked for."""

    value: Values
    unit: str = Field(..., description="The unit of `value`, as requested.")
    dimension: str = Field(..., description="Dimension as text, e.g. 'length*time^-1'.")


class PredictResponseBody(BaseModel):
    """The model that answered and every output."""

    model: str
    version: str
    outputs: dict[str, OutputQuantity]
    outside_domain: dict[str, list[int]] | None = Field(
        None,
        description="Only when a row is outside the model's validity domain (domain "
        "policy 'flag'): input name -> the indices of its rows outside (0 for an "
        "unbatched request).",
    )


class DomainBound(BaseModel):
    """One end of an input's validity domain, as the manifest declares it."""

    value: float | list[float] = Field(..., description="One bound, or one per element.")
    unit: str
    open: bool = Field(..., description="True: the bound itself is outside.")


class DomainInfo(BaseModel):
    """Where the model is valid in one input."""

    lower: DomainBound | None = None
    upper: DomainBound | None = None
    description: str | None = None


class TensorInfo(BaseModel):
    """One input or output of a model's signature."""

    name: str
    unit: str
    dimension: str
    exponents: dict[str, int | float] = Field(..., description="Non-zero base-dimension powers.")
    shape: list[int] = Field(..., description="Per-row shape; [] is one number per row.")
    description: str = ""
    domain: DomainInfo | None = Field(None, description="Inputs: the validity domain.")


class ModelVersionInfo(BaseModel):
    """One version of a model, with its load status."""

    name: str
    version: str
    state: Literal["ready", "failed"]
    reason: str | None = Field(None, description="Why the version failed to load.")
    description: str | None = None
    architecture: str | None = None
    architecture_origin: str | None = Field(
        None,
        description="The package that offers the architecture and its version "
        "(`dimtensor-serve 0.1.0` for the server's own).",
    )
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []
    domain_policy: Literal["flag", "refuse", "ignore"] | None = Field(
        None, description="What a row outside an input's domain gets (manifest or server)."
    )


class ModelInfo(BaseModel):
    """A model and all its versions."""

    name: str
    default_version: str | None = Field(None, description="The version used when none is named.")
    versions: list[ModelVersionInfo]


class ModelList(BaseModel):
    """All models in the repository."""

    default_model: str | None
    models: list[ModelInfo]


class UnitInfo(BaseModel):
    """A parsed unit expression."""

    expression: str
    dimension: str
    exponents: dict[str, int | float]
    scale: float = Field(..., description="SI value of one unit.")
    offset: float = Field(..., description="SI = value * scale + offset (absolute temperatures).")
    si: str = Field(..., description="The SI unit of this dimension.")


class ConvertRequest(BaseModel):
    """``POST /v1/units/convert``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"value": 100, "from": "km/h", "to": "m/s"}]},
    )

    value: Values
    source: str = Field(..., alias="from", description="Unit of `value`.")
    target: str = Field(..., alias="to", description="Unit wanted.")


class ConvertResponse(BaseModel):
    """The converted value."""

    value: Values
    unit: str


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "ready", "not ready"]
    models: dict[str, int] | None = Field(None, description="Versions per load state.")


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``) plus extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., description="A URI reference naming the kind of problem.")
    title: str
    status: int
    detail: str
    instance: str | None = None
