"""The one prediction path every door calls: native REST, OIP v2, batch jobs and tests.

(model, version, inputs with units, requested output units) -> outputs with units.
Resolve the model, check every name, parse every unit once (cached), check its
dimension against the model's signature, convert values into the model's units,
run the forward pass on plain arrays, convert outputs to the units asked for.
Errors are the typed domain errors of ``service.errors``; nothing here knows HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from service.errors import (
    DimensionMismatchError,
    LimitExceededError,
    MissingInputError,
    NonFiniteError,
    ServiceError,
    ShapeError,
    UnexpectedInputError,
    UnitError,
)
from service.models import LoadedModel, ModelRepository
from service.tensors import FloatArray, as_float_array, check_finite, rows_of
from service.units import ParsedUnit, conversion, dimension_text, parse_unit, same_dimension

__all__ = [
    "DataPlane",
    "PredictObserver",
    "PredictRequest",
    "PredictResult",
    "QuantityIn",
    "QuantityOut",
]


@dataclass(frozen=True, slots=True)
class QuantityIn:
    """A client value with its unit text; ``unit=None`` means the model's own unit."""

    value: Any
    unit: str | None


@dataclass(frozen=True, slots=True)
class QuantityOut:
    """An output in the unit asked for; ``values`` keeps the row axis only if batched."""

    values: FloatArray
    unit: ParsedUnit


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """What every door translates its payload into."""

    inputs: Mapping[str, QuantityIn]
    model: str | None = None
    version: str | None = None
    outputs: Mapping[str, str | None] | None = None
    protocol: str = "native"


@dataclass(frozen=True, slots=True)
class PredictResult:
    """The model that answered and each declared output, in declaration order."""

    model: str
    version: str
    rows: int
    batched: bool
    outputs: dict[str, QuantityOut]


class PredictObserver(Protocol):
    """Told about every prediction; metrics implement it, the core does not know them."""

    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        """A prediction answered; `seconds` is the forward pass alone."""

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        """A prediction was refused; `model` is None when no model was resolved."""


class _NoObserver:
    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        return None

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        return None


class DataPlane:
    """Protocol-independent prediction over a model repository.

    Args:
        repository: the loaded models.
        default_model: used when a request names no model ("" or None: none).
        max_unit_length: longest unit expression accepted.
        max_rows: most rows one request may carry.
        observer: told of each prediction's outcome (metrics).
    """

    def __init__(
        self,
        repository: ModelRepository,
        *,
        default_model: str | None = None,
        max_unit_length: int = 256,
        max_rows: int = 100_000,
        observer: PredictObserver | None = None,
    ) -> None:
        self.repository = repository
        self.observer: PredictObserver = observer or _NoObserver()
        self.default_model = default_model or None
        self.max_unit_length = max_unit_length
        self.max_rows = max_rows

    # --- lookup -------------------------------------------------------------------
    def resolve(self, name: str | None, version: str | None = None) -> LoadedModel:
        """The model a request means; raises ModelNotFoundError / ModelNotReadyError."""
        if not name:
            if self.default_model is None:
                raise UnexpectedInputError(
                    "no model named in the request and no default model configured; "
                    f"expected one of {self.repository.names()}",
                    available=self.repository.names(),
                )
            name = self.default_model
        return self.repository.get(name, version)

    def parse(self, text: str, *, role: str = "unit", name: str | None = None) -> ParsedUnit:
        """Parse a unit expression, naming the tensor it belongs to in any error."""
        try:
            return parse_unit(text, max_length=self.max_unit_length)
        except UnitError as exc:
            if name is None:
                raise
            raise type(exc)(
                f"{role} '{name}': {exc.message}", **exc.details, **{role: name}
            ) from None

    # --- the path -----------------------------------------------------------------
    def predict(self, request: PredictRequest) -> PredictResult:
        """Run one request through the model; see the module docstring for the steps."""
        model: LoadedModel | None = None
        try:
            model = self.resolve(request.model, request.version)
            result, seconds = self._predict(model, request)
        except ServiceError as exc:
            name = model.manifest.name if model else None
            version = model.manifest.version if model else None
            self.observer.failed(request.protocol, name, version, exc)
            raise
        self.observer.succeeded(
            request.protocol, result.model, result.version, result.rows, seconds
        )
        return result

    def _predict(self, model: LoadedModel, request: PredictRequest) -> tuple[PredictResult, float]:
        manifest = model.manifest
        self._check_names(model, request)
        arrays: list[FloatArray] = []
        batch_rows: dict[str, int] = {}
        for spec, unit in zip(manifest.inputs, model.input_units, strict=True):
            arr, rows = self._input_array(spec.name, spec.shape, unit, request.inputs[spec.name])
            arrays.append(arr)
            if rows is not None:
                batch_rows[spec.name] = rows
        rows = self._common_rows(batch_rows)
        batch = [
            np.broadcast_to(a, (rows, *spec.shape)) if spec.name not in batch_rows else a
            for a, spec in zip(arrays, manifest.inputs, strict=True)
        ]
        started = time.perf_counter()
        raw = model.predict(batch)
        seconds = time.perf_counter() - started
        batched = bool(batch_rows)
        outputs: dict[str, QuantityOut] = {}
        requested = request.outputs or {}
        for spec, unit, values in zip(manifest.outputs, model.output_units, raw, strict=True):
            values = values if batched else values[0]
            outputs[spec.name] = self._output(spec.name, unit, values, requested.get(spec.name))
        return PredictResult(manifest.name, manifest.version, rows, batched, outputs), seconds

    def _check_names(self, model: LoadedModel, request: PredictRequest) -> None:
        declared_in = [s.name for s in model.manifest.inputs]
        declared_out = [s.name for s in model.manifest.outputs]
        unknown = [n for n in request.inputs if n not in declared_in]
        if unknown:
            raise UnexpectedInputError(
                f"model '{model.manifest.name}' has no input {unknown[0]!r}; "
                f"expected inputs {declared_in}, received {list(request.inputs)}",
                input=unknown[0],
                expected=declared_in,
            )
        missing = [n for n in declared_in if n not in request.inputs]
        if missing:
            raise MissingInputError(
                f"model '{model.manifest.name}' needs input {missing[0]!r} "
                f"({_signature(model, missing[0])}); received inputs {list(request.inputs)}",
                input=missing[0],
                expected=declared_in,
            )
        bad_out = [n for n in (request.outputs or {}) if n not in declared_out]
        if bad_out:
            raise UnexpectedInputError(
                f"model '{model.manifest.name}' has no output {bad_out[0]!r}; "
                f"expected outputs {declared_out}",
                output=bad_out[0],
                expected=declared_out,
            )

    def _input_array(
        self, name: str, shape: list[int], model_unit: ParsedUnit, quantity: QuantityIn
    ) -> tuple[FloatArray, int | None]:
        unit = (
            model_unit
            if quantity.unit is None
            else self.parse(quantity.unit, role="input", name=name)
        )
        if not same_dimension(unit.dimension, model_unit.dimension):
            raise DimensionMismatchError(
                f"input '{name}': expected a quantity of dimension "
                f"{dimension_text(model_unit.dimension)} (the model's unit is "
                f"'{model_unit.expression}'), received unit '{unit.expression}' of dimension "
                f"{dimension_text(unit.dimension)}",
                input=name,
                expected_unit=model_unit.expression,
                expected_dimension=dimension_text(model_unit.dimension),
                received_unit=unit.expression,
                received_dimension=dimension_text(unit.dimension),
            )
        per_row = max(1, int(np.prod(shape, dtype=np.int64)))
        arr = as_float_array(quantity.value, name=name, max_values=self.max_rows * per_row)
        check_finite(arr, name=name)
        rows = rows_of(arr, shape, name=name)
        if unit is not model_unit:
            factor, shift = conversion(unit, model_unit)
            with np.errstate(over="ignore", invalid="ignore"):
                arr = arr * factor + shift
            check_finite(arr, name=name)
        return arr, rows

    def _common_rows(self, batch_rows: dict[str, int]) -> int:
        sizes = set(batch_rows.values())
        if len(sizes) > 1:
            raise ShapeError(
                "inputs disagree on the number of rows: "
                + ", ".join(f"'{n}' has {r}" for n, r in batch_rows.items())
                + "; send batches of one length, or single values that broadcast",
                rows=batch_rows,
            )
        rows = sizes.pop() if sizes else 1
        if rows > self.max_rows:
            raise LimitExceededError(
                f"at most {self.max_rows} rows per request, received {rows}",
                limit=self.max_rows,
                received=rows,
            )
        return rows

    def _output(
        self, name: str, model_unit: ParsedUnit, values: FloatArray, wanted: str | None
    ) -> QuantityOut:
        unit = model_unit if wanted is None else self.parse(wanted, role="output", name=name)
        if not same_dimension(unit.dimension, model_unit.dimension):
            raise DimensionMismatchError(
                f"output '{name}': the model returns dimension "
                f"{dimension_text(model_unit.dimension)} (unit '{model_unit.expression}'), "
                f"requested unit '{unit.expression}' has dimension "
                f"{dimension_text(unit.dimension)}",
                output=name,
                expected_unit=model_unit.expression,
                expected_dimension=dimension_text(model_unit.dimension),
                received_unit=unit.expression,
                received_dimension=dimension_text(unit.dimension),
            )
        if unit is not model_unit:
            factor, shift = conversion(model_unit, unit)
            with np.errstate(over="ignore", invalid="ignore"):
                values = values * factor + shift
        if not np.isfinite(values).all():
            raise NonFiniteError(
                f"output '{name}': the model produced a non-finite value; the inputs are "
                "probably outside the domain the model is defined on",
                output=name,
            )
        return QuantityOut(values, unit)

    # --- units without a model ------------------------------------------------------
    def convert(self, value: Any, source: str, target: str) -> tuple[FloatArray, ParsedUnit]:
        """Convert a number or nested list between two units of one dimension."""
        src = self.parse(source, role="unit", name="from")
        dst = self.parse(target, role="unit", name="to")
        factor, shift = conversion(src, dst)
        arr = as_float_array(value, name="value", max_values=self.max_rows)
        check_finite(arr, name="value")
        with np.errstate(over="ignore", invalid="ignore"):
            out = arr * factor + shift
        check_finite(out, name="value", role="output")
        return out, dst


def _signature(model: LoadedModel, name: str) -> str:
    for spec, unit in zip(model.manifest.inputs, model.input_units, strict=True):
        if spec.name == name:
            return f"unit '{unit.expression}', dimension {dimension_text(unit.dimension)}"
    return "unknown"
