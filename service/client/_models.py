"""What the server says about its models and units, as plain frozen dataclasses.

Read from ``GET /v1/models[/{name}]``, ``GET /v2/models/{name}[/versions/{v}]`` (OIP
metadata: units in ``parameters.unit``) and ``GET /v1/units/parse``. Each unit is kept as the
server's text and read on demand with the server's own grammar (``service.units``), so a
signature can hand out dimtensor ``Unit`` objects without ever evaluating text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dimtensor import Unit

from service.client._errors import AnswerError
from service.units import ParsedUnit, parse_unit

__all__ = [
    "ModelInfo",
    "ModelVersion",
    "TensorSpec",
    "UnitInfo",
    "read_model",
    "read_oip_metadata",
    "read_unit",
]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: its unit (text), dimension and per-row shape."""

    name: str
    unit: str
    dimension: str
    shape: tuple[int, ...] = ()
    description: str = ""

    @property
    def parsed(self) -> ParsedUnit:
        """The unit read by the server's grammar (dimension, SI scale, offset)."""
        return parse_unit(self.unit)

    def as_unit(self) -> Unit:
        """The unit as a dimtensor ``Unit`` (an offset, degC's, is not carried: dimtensor
        has none)."""
        parsed = self.parsed
        return Unit(parsed.expression, parsed.dimension, parsed.scale)


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model: its load state and, when it loaded, its signature."""

    name: str
    version: str
    state: str = "ready"
    reason: str | None = None
    description: str | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)


@dataclass(frozen=True)
class ModelInfo:
    """A model and every version the server holds, ready or failed."""

    name: str
    default_version: str | None
    versions: tuple[ModelVersion, ...] = field(default_factory=tuple)

    def version(self, version: str | None = None) -> ModelVersion | None:
        """The named version, or the default one."""
        wanted = version if version is not None else self.default_version
        return next((v for v in self.versions if v.version == wanted), None)


@dataclass(frozen=True)
class UnitInfo:
    """A unit expression as the server reads it: ``SI = value * scale + offset``."""

    expression: str
    dimension: str
    exponents: dict[str, float]
    scale: float
    offset: float
    si: str

    def as_unit(self) -> Unit:
        """The unit as a dimtensor ``Unit`` (without the offset, which dimtensor lacks)."""
        parsed = parse_unit(self.expression)
        return Unit(parsed.expression, parsed.dimension, parsed.scale)


def read_model(doc: Any) -> ModelInfo:
    """``GET /v1/models/{name}``: ``{"name", "default_version", "versions": [{"name",
    "version", "state", "reason", "description", "inputs", "outputs"}]}``."""
    try:
        versions = tuple(
            ModelVersion(
                name=str(v["name"]),
                version=str(v["version"]),
                state=str(v.get("state", "ready")),
                reason=v.get("reason"),
                description=v.get("description"),
                inputs=tuple(_native_tensor(t) for t in v.get("inputs") or []),
                outputs=tuple(_native_tensor(t) for t in v.get("outputs") or []),
            )
            for v in doc["versions"]
        )
        return ModelInfo(str(doc["name"]), doc.get("default_version"), versions)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnswerError(f"not a model description: {exc!r} in {str(doc)[:200]}") from None


def _native_tensor(doc: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(doc["name"]),
        unit=str(doc["unit"]),
        dimension=str(doc.get("dimension", "")),
        shape=tuple(int(d) for d in doc.get("shape") or ()),
        description=str(doc.get("description") or ""),
    )


def read_oip_metadata(doc: Any, version: str) -> ModelVersion:
    """``GET /v2/models/{name}/versions/{v}``: ``{"name", "versions", "platform", "inputs":
    [{"name", "datatype", "shape": [-1, ...], "parameters": {"unit", "dimension"}}], ...}``."""
    try:
        return ModelVersion(
            name=str(doc["name"]),
            version=version,
            inputs=tuple(_oip_tensor(t) for t in doc["inputs"]),
            outputs=tuple(_oip_tensor(t) for t in doc["outputs"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnswerError(f"not OIP model metadata: {exc!r} in {str(doc)[:200]}") from None


def _oip_tensor(doc: dict[str, Any]) -> TensorSpec:
    params = doc.get("parameters") or {}
    shape = [int(d) for d in doc.get("shape") or ()]
    return TensorSpec(
        name=str(doc["name"]),
        unit=str(params["unit"]),
        dimension=str(params.get("dimension", "")),
        shape=tuple(shape[1:] if shape[:1] == [-1] else shape),
    )


def read_unit(doc: Any) -> UnitInfo:
    """``GET /v1/units/parse``: ``{"expression", "dimension", "exponents", "scale",
    "offset", "si"}``."""
    try:
        return UnitInfo(
            expression=str(doc["expression"]),
            dimension=str(doc["dimension"]),
            exponents={str(k): float(v) for k, v in doc["exponents"].items()},
            scale=float(doc["scale"]),
            offset=float(doc["offset"]),
            si=str(doc["si"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnswerError(f"not a unit description: {exc!r} in {str(doc)[:200]}") from None
