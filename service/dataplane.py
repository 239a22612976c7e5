"""The one prediction path every door calls: native REST, OIP v2, batch jobs and tests.

(model, version, inputs with units, requested output units) -> outputs with units.
Resolve the model, check every name, parse every unit once (cached), check its
dimension against the model's signature, convert values into the model's units,
run the forward pass on plain arrays, convert outputs to the units asked for.
Errors are the typed domain errors of ``service.errors``; nothing here knows HTTP.

Validity domains are checked here too, once for every door: after conversion, each input
with a declared domain is compared with its bounds (precomputed in the model's units at
load, ``service.models.domains``); the policy (the manifest's ``domain_policy``, else the
server's ``DOMAIN_POLICY``) flags the rows outside in ``PredictResult.outside``, refuses
the request (``OutsideDomainError``) or ignores the domain. The rows outside are counted
through the observer whatever the doors do with the flags.

The path has three steps so that sync callers and async doors share every check:
``prepare_for`` (everything before the model), ``run`` (the forward pass) and ``finish``
(outputs checked and converted). ``predict`` chains them for sync callers (batch jobs,
tests); ``predict_async`` is the one call of the async doors, and decides how the request
runs: in a worker thread when it is large (``inline_rows``), else through the micro-batcher
of ``service.batching`` when one is configured, else inline on the event loop.

Per-request work is kept small for the common 1-row case, by two rules written once each:
a (unit text, model unit) pair is parsed and checked once and its factor kept
(``_conversion``), and a one-row scalar (``_one_row_scalar``) is converted in Python
rather than through numpy; anything else, and any value the shortcut cannot convert to a
finite number, takes the general path, which raises every error (so messages come from
one place). ``tests/bench/test_hot_path.py`` holds both paths to identical answers.

Outputs keep the dtype the model computes in (``LoadedModel.dtype``): a float32 result
converted to another unit is computed in float64 and rounded once to float32, so it is the
float32 nearest the exact conversion, on both paths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import anyio.to_thread
import numpy as np

from service.errors import (
    DimensionMismatchError,
    LimitExceededError,
    MissingInputError,
    NonFiniteError,
    OutsideDomainError,
    ServiceError,
    ShapeError,
    UnexpectedInputError,
    UnitError,
)
from service.models import BoolArray, DomainPolicy, InputDomain, LoadedModel, ModelRepository
from service.tensors import FloatArray, ModelArray, as_float_array, check_finite, rows_of
from service.units import ParsedUnit, conversion, parse_unit, same_dimension

__all__ = [
    "CONVERSION_CACHE_SIZE",
    "DataPlane",
    "ForwardRunner",
    "PredictObserver",
    "PredictRequest",
    "PredictResult",
    "Prepared",
    "QuantityIn",
    "QuantityOut",
    "requested_model",
]

requested_model: ContextVar[str | None] = ContextVar("requested_model", default=None)
"""The model the current request asked for (its name, or the default model's), set by
``DataPlane.resolve`` before the lookup can fail: the one hook through which the access
log (``service.rest.operations``) learns the model; doors never set it."""


@dataclass(frozen=True, slots=True)
class QuantityIn:
    """A client value with its unit text; ``unit=None`` means the model's own unit."""

    value: Any
    unit: str | None


@dataclass(frozen=True, slots=True)
class QuantityOut:
    """An output in the unit asked for, in the model's dtype; ``values`` keeps the row axis
    only if batched."""

    values: ModelArray
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
    """The model that answered and each declared output, in declaration order.

    ``outside``: input name -> one flag per row, for the inputs with a row outside the
    model's validity domain (empty: every row inside, or the domain not checked)."""

    model: str
    version: str
    rows: int
    batched: bool
    outputs: dict[str, QuantityOut]
    outside: dict[str, BoolArray] = field(default_factory=dict)

    def rows_outside(self) -> dict[str, list[int]]:
        """Input name -> the indices of its rows outside the domain (what doors show)."""
        return {name: np.flatnonzero(mask).tolist() for name, mask in self.outside.items()}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request checked and converted: the model and one ``(rows, *shape)`` float64
    array per declared input, in the model's units; `batched` says whether the request
    had a row axis (outputs keep it only then)."""

    model: LoadedModel
    batch: list[FloatArray]
    rows: int
    batched: bool
    outside: dict[str, BoolArray] = field(default_factory=dict)


class ForwardRunner(Protocol):
    """Runs forward passes for the async doors (the micro-batcher implements it)."""

    def run(
        self, model: LoadedModel, batch: Sequence[FloatArray], rows: int
    ) -> Awaitable[tuple[list[ModelArray], float]]:
        """The model's outputs for `batch` and the forward seconds."""


@dataclass(frozen=True, slots=True)
class _Conversion:
    unit: ParsedUnit
    factor: float
    shift: float
    identity: bool
    # |x| below this converts to a finite float64 (safe_below) or float32 (safe_below32):
    # no need for numpy's error state (entering np.errstate costs more than the
    # conversion of a few values).
    safe_below: float
    safe_below32: float

    def apply(self, values: _Floats) -> _Floats:
        """``values * factor + shift``, computed in float64 and returned in the dtype of
        `values` (rounded once); non-finite results are the caller's to check."""
        wide = values.astype(np.float64, copy=False)
        limit = self.safe_below32 if values.dtype == _F32 else self.safe_below
        safe = wide.size and float(np.abs(wide).max()) < limit
        with nullcontext() if safe else np.errstate(over="ignore", invalid="ignore"):
            out = (wide * self.factor + self.shift).astype(values.dtype, copy=False)
        return cast(_Floats, out)


CONVERSION_CACHE_SIZE = 4096  # (unit text, model unit) pairs; cleared when full
_INT64 = 2**63
_FLOAT_MAX = float(np.finfo(np.float64).max)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_F32_MAX = float(np.finfo(np.float32).max)
_Floats = TypeVar("_Floats", bound=ModelArray)


class PredictObserver(Protocol):
    """Told about every prediction; metrics implement it, the core does not know them."""

    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        """A prediction answered; `seconds` is the forward pass alone."""

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        """A prediction was refused; `model` is None when no model was resolved."""

    def outside_domain(self, model: str, rows: Mapping[str, int]) -> None:
        """Rows of one request outside the model's validity domain, by input."""


class _NoObserver:
    def succeeded(self, protocol: str, model: str, version: str, rows: int, seconds: float) -> None:
        return None

    def failed(
        self, protocol: str, model: str | None, version: str | None, error: ServiceError
    ) -> None:
        return None

    def outside_domain(self, model: str, rows: Mapping[str, int]) -> None:
        return None


class DataPlane:
    """Protocol-independent prediction over a model repository.

    Args:
        repository: the loaded models.
        default_model: used when a request names no model ("" or None: none).
        max_unit_length: longest unit expression accepted.
        max_rows: most rows one request may carry.
        observer: told of each prediction's outcome (metrics).
        batcher: runs the forward passes of ``predict_async`` (micro-batching); None:
            inline.
        inline_rows: ``predict_async`` runs a request of more rows than this in a worker
            thread, off the event loop (``INLINE_ROWS``).
        domain_policy: what a row outside a model's validity domain gets when the
            model's manifest does not say (``DOMAIN_POLICY``): "flag", "refuse" or
            "ignore".
    """

    def __init__(
        self,
        repository: ModelRepository,
        *,
        default_model: str | None = None,
        max_unit_length: int = 256,
        max_rows: int = 100_000,
        observer: PredictObserver | None = None,
        batcher: ForwardRunner | None = None,
        inline_rows: int = 512,
        domain_policy: DomainPolicy = "flag",
    ) -> None:
        self.repository = repository
        self.domain_policy: DomainPolicy = domain_policy
        self.batcher = batcher
        self.inline_rows = inline_rows
        self._conversions: dict[tuple[str, str, str], _Conversion] = {}
        self.observer: PredictObserver = observer or _NoObserver()
        self.default_model = default_model or None
        self.max_unit_length = max_unit_length
        self.max_rows = max_rows

    # --- lookup -------------------------------------------------------------------
    def resolve(self, name: str | None, version: str | None = None) -> LoadedModel:
        """The model a request means; raises ModelNotFoundError / ModelNotReadyError.
        Reports the name asked for through ``requested_model`` first."""
        requested_model.set(name or self.default_model)
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

    def check_signature(
        self,
        model: str | None,
        version: str | None,
        input_units: Mapping[str, str | None],
        outputs: Mapping[str, str | None] | None = None,
    ) -> LoadedModel:
        """Every check of ``predict`` that needs no values: the model resolves, the names
        are its inputs and outputs, and each unit parses and has the declared dimension.

        For doors that must refuse a whole job before any work starts (the batch CLI's
        ``validate`` and ``run``): the same checks and messages as a request, once.
        """
        request = PredictRequest(
            {name: QuantityIn(None, unit) for name, unit in input_units.items()},
            model,
            version,
            outputs,
            protocol="batch",
        )
        loaded = self.resolve(model, version)
        self._check_names(loaded, request)
        for spec, unit in zip(loaded.manifest.inputs, loaded.input_units, strict=True):
            text = input_units[spec.name]
            if text is not None:
                self._conversion(text, unit, "input", spec.name)
        wanted = outputs or {}
        for spec, unit in zip(loaded.manifest.outputs, loaded.output_units, strict=True):
            text = wanted.get(spec.name)
            if text is not None:
                self._conversion(text, unit, "output", spec.name)
        return loaded

    # --- the path: prepare -> run -> finish ----------------------------------------
    def predict(self, request: PredictRequest) -> PredictResult:
        """Run one request through the model, synchronously (batch jobs, tests, threads)."""
        return self._predict(self._resolved(request), request)

    async def predict_async(self, request: PredictRequest) -> PredictResult:
        """The one call of the async doors; this is where it is decided how a request runs.

        More rows than ``inline_rows``: the whole path in a worker thread, so that a large
        batch does not hold up the event loop. Otherwise the checks and conversions run
        inline (for a small request a thread hop costs more than the work), and the
        forward pass goes through the micro-batcher when one is configured (stacked with
        concurrent requests), else inline too.
        """
        model = self._resolved(request)
        if _rows_hint(request) > self.inline_rows:
            return await anyio.to_thread.run_sync(
                self._predict, model, request, abandon_on_cancel=True
            )
        if self.batcher is None:
            return self._predict(model, request)
        try:
            prepared = self.prepare_for(model, request)
            raw, seconds = await self.batcher.run(model, prepared.batch, prepared.rows)
        except ServiceError as exc:
            self._failed(request, model, exc)
            raise
        return self._finished(request, prepared, raw, seconds)

    def _predict(self, model: LoadedModel, request: PredictRequest) -> PredictResult:
        try:
            prepared = self.prepare_for(model, request)
            raw, seconds = self.run(prepared)
        except ServiceError as exc:
            self._failed(request, model, exc)
            raise
        return self._finished(request, prepared, raw, seconds)

    def prepare_for(self, model: LoadedModel, request: PredictRequest) -> Prepared:
        """Check names, parse units, check dimensions, shapes and values, and convert every
        input into the model's unit: one ``(rows, *shape)`` array per declared input."""
        manifest = model.manifest
        self._check_names(model, request)
        values: list[FloatArray | float] = []
        batch_rows: dict[str, int] = {}
        for spec, unit in zip(manifest.inputs, model.input_units, strict=True):
            quantity = request.inputs[spec.name]
            conv = (
                None
                if quantity.unit is None
                else self._conversion(quantity.unit, unit, "input", spec.name)
            )
            scalar = self._one_row_scalar(spec.shape, quantity.value, conv)
            if scalar is not None:
                values.append(scalar[0])
                if scalar[1]:
                    batch_rows[spec.name] = 1
                continue
            arr, rows = self._input_array(spec.name, spec.shape, conv, quantity.value)
            values.append(arr)
            if rows is not None:
                batch_rows[spec.name] = rows
        rows = self._common_rows(batch_rows)
        outside = self._outside(model, request, values, rows)
        batch: list[FloatArray] = []
        for value, spec in zip(values, manifest.inputs, strict=True):
            if not isinstance(value, np.ndarray):  # a float from the shortcut
                batch.append(_one(value, (rows,)))
            elif spec.name in batch_rows:
                batch.append(value)
            else:
                batch.append(np.broadcast_to(value, (rows, *spec.shape)))
        return Prepared(model, batch, rows, bool(batch_rows), outside)

    def policy_for(self, model: LoadedModel) -> DomainPolicy:
        """The model's domain policy: its manifest's, else the server's."""
        return model.manifest.domain_policy or self.domain_policy

    def _outside(
        self,
        model: LoadedModel,
        request: PredictRequest,
        values: Sequence[FloatArray | float],
        rows: int,
    ) -> dict[str, BoolArray]:
        """The rows outside the model's domain by input, counted; under ``refuse`` the
        first of them is an ``OutsideDomainError``."""
        domain = model.domain
        if domain is None:
            return {}
        policy = self.policy_for(model)
        if policy == "ignore":
            return {}
        outside = domain.check(values, rows)
        if not outside:
            return outside
        counts = {name: int(mask.sum()) for name, mask in outside.items()}
        self.observer.outside_domain(model.manifest.name, counts)
        if policy == "refuse":
            first = next(d for d in domain.inputs if d.name in outside)
            raise self._refusal(model, request, first, values[first.index], outside, rows)
        return outside

    def _refusal(
        self,
        model: LoadedModel,
        request: PredictRequest,
        domain: InputDomain,
        value: FloatArray | float,
        outside: dict[str, BoolArray],
        rows: int,
    ) -> OutsideDomainError:
        """The refusal of the first value outside, in the client's own unit."""
        name = domain.name
        hit = domain.first_violation(value, outside[name])
        text = request.inputs[name].unit
        unit, factor, shift = domain.unit.expression, 1.0, 0.0
        if text is not None:
            conv = self._conversion(text, domain.unit, "input", name)
            unit, factor, shift = conv.unit.expression, conv.factor, conv.shift

        def client(x: float | None) -> float | None:
            return None if x is None else float(f"{(x - shift) / factor:.12g}")

        received, lower, upper = client(hit.value), client(hit.lower), client(hit.upper)
        interval = domain.describe(lower, upper, unit)
        declared = domain.describe(hit.lower, hit.upper, domain.unit.expression)
        also = "" if declared == interval else f", i.e. {declared}"
        count = int(outside[name].sum())
        return OutsideDomainError(
            f"input '{name}': received {received:.6g} {unit} (row {hit.row}), outside the "
            f"validity domain of model '{model.manifest.name}': expected {interval}{also}; "
            f"{count} of {rows} row(s) outside, refused (domain policy 'refuse')",
            input=name,
            row=hit.row,
            received_value=received,
            received_unit=unit,
            lower=lower,
            upper=upper,
            lower_open=domain.lower_open if lower is not None else None,
            upper_open=domain.upper_open if upper is not None else None,
            rows_outside=count,
        )

    def run(self, prepared: Prepared) -> tuple[list[ModelArray], float]:
        """The forward pass on plain arrays; returns the outputs and its seconds."""
        started = time.perf_counter()
        raw = prepared.model.predict(prepared.batch)
        return raw, time.perf_counter() - started

    def finish(
        self, request: PredictRequest, prepared: Prepared, raw: list[ModelArray]
    ) -> PredictResult:
        """Check every output is finite and convert it to the unit asked for."""
        model = prepared.model
        manifest = model.manifest
        outputs: dict[str, QuantityOut] = {}
        requested = request.outputs or {}
        for spec, unit, values in zip(manifest.outputs, model.output_units, raw, strict=True):
            values = values if prepared.batched else values[0]
            outputs[spec.name] = self._output(spec.name, unit, values, requested.get(spec.name))
        return PredictResult(
            manifest.name,
            manifest.version,
            prepared.rows,
            prepared.batched,
            outputs,
            prepared.outside,
        )

    def _resolved(self, request: PredictRequest) -> LoadedModel:
        try:
            return self.resolve(request.model, request.version)
        except ServiceError as exc:
            self._failed(request, None, exc)
            raise

    def _failed(
        self, request: PredictRequest, model: LoadedModel | None, exc: ServiceError
    ) -> None:
        name = model.manifest.name if model else None
        version = model.manifest.version if model else None
        self.observer.failed(request.protocol, name, version, exc)

    def _finished(
        self,
        request: PredictRequest,
        prepared: Prepared,
        raw: list[ModelArray],
        seconds: float,
    ) -> PredictResult:
        try:
            result = self.finish(request, prepared, raw)
        except ServiceError as exc:
            self._failed(request, prepared.model, exc)
            raise
        self.observer.succeeded(
            request.protocol, result.model, result.version, result.rows, seconds
        )
        return result

    def _conversion(self, text: str, model_unit: ParsedUnit, role: str, name: str) -> _Conversion:
        """Parse `text` and check it against `model_unit`, once per (text, model unit):
        the factor and shift of every accepted pair are kept (bounded), errors are not."""
        key = (role, text, model_unit.expression)
        found = self._conversions.get(key)
        if found is not None:
            return found
        unit = self.parse(text, role=role, name=name)
        if not same_dimension(unit.dimension, model_unit.dimension):
            raise _mismatch(role, name, model_unit, unit)
        if role == "input":
            factor, shift = conversion(unit, model_unit)
        else:
            factor, shift = conversion(model_unit, unit)
        identity = unit is model_unit or (factor == 1.0 and shift == 0.0)
        safe_below = max(0.0, 0.5 * (_FLOAT_MAX - abs(shift)) / abs(factor))
        safe_below32 = max(0.0, 0.5 * (_F32_MAX - abs(shift)) / abs(factor))
        found = _Conversion(unit, factor, shift, identity, safe_below, safe_below32)
        if len(self._conversions) >= CONVERSION_CACHE_SIZE:
            self._conversions.clear()
        self._conversions[key] = found
        return found

    def _one_row_scalar(
        self, shape: list[int], value: Any, conv: _Conversion | None
    ) -> tuple[float, bool] | None:
        """The shortcut's rule: one plain number for a scalar input, converted in Python
        (the common 1-row case without a dozen numpy calls). Returns ``(value, batched)``:
        a bare number is unbatched; ``[x]`` (JSON) or a float64 array of shape ``(1,)``
        (decoded tensors) is a batch of one row. None sends the value down the general
        path, which also raises every error."""
        if shape:
            return None
        batch = False
        kind = type(value)
        if kind is list and len(value) == 1:
            value, batch = value[0], True
            kind = type(value)
        elif kind is np.ndarray and value.shape == (1,) and value.dtype == np.float64:
            value, batch = float(value[0]), True
            kind = float
        if not (kind is float or (kind is int and -_INT64 <= value < _INT64)):
            return None
        x = float(value)
        if conv is not None and not conv.identity:
            x = x * conv.factor + conv.shift
        return (x, batch) if math.isfinite(x) else None

    def _check_names(self, model: LoadedModel, request: PredictRequest) -> None:
        declared_in, declared_out = model.inputs_by_name, model.output_names
        if request.inputs.keys() == declared_in.keys() and all(
            n in declared_out for n in (request.outputs or ())
        ):
            return  # the usual case, in two set operations
        unknown = [n for n in request.inputs if n not in declared_in]
        if unknown:
            raise UnexpectedInputError(
                f"model '{model.manifest.name}' has no input {unknown[0]!r}; "
                f"expected inputs {list(declared_in)}, received {list(request.inputs)}",
                input=unknown[0],
                expected=list(declared_in),
            )
        missing = [n for n in declared_in if n not in request.inputs]
        if missing:
            raise MissingInputError(
                f"model '{model.manifest.name}' needs input {missing[0]!r} "
                f"({_signature(model, missing[0])}); received inputs {list(request.inputs)}",
                input=missing[0],
                expected=list(declared_in),
            )
        bad_out = [n for n in (request.outputs or {}) if n not in declared_out]
        if bad_out:
            raise UnexpectedInputError(
                f"model '{model.manifest.name}' has no output {bad_out[0]!r}; "
                f"expected outputs {list(declared_out)}",
                output=bad_out[0],
                expected=list(declared_out),
            )

    def _input_array(
        self, name: str, shape: list[int], conv: _Conversion | None, value: Any
    ) -> tuple[FloatArray, int | None]:
        per_row = max(1, math.prod(shape))
        arr = as_float_array(value, name=name, max_values=self.max_rows * per_row)
        check_finite(arr, name=name)
        rows = rows_of(arr, shape, name=name)
        if conv is not None and not conv.identity:
            arr = conv.apply(arr)
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
        self, name: str, model_unit: ParsedUnit, values: ModelArray, wanted: str | None
    ) -> QuantityOut:
        unit = model_unit
        conv = None if wanted is None else self._conversion(wanted, model_unit, "output", name)
        if conv is not None:
            unit = conv.unit
        one = self._fast_output(values, conv)
        if one is not None:
            return QuantityOut(one, unit)
        converted = values if conv is None or conv.identity else conv.apply(values)
        if not np.isfinite(converted).all():
            if converted is not values and np.isfinite(values).all():
                raise NonFiniteError(
                    f"output '{name}': a value in '{unit.expression}' is beyond the range of "
                    f"{values.dtype}, the dtype the model computes in; ask for a larger unit",
                    output=name,
                    unit=unit.expression,
                )
            raise NonFiniteError(
                f"output '{name}': the model produced a non-finite value; the inputs are "
                "probably outside the domain the model is defined on",
                output=name,
            )
        return QuantityOut(converted, unit)

    def _fast_output(self, values: ModelArray, conv: _Conversion | None) -> ModelArray | None:
        """A single output value converted with float arithmetic (as ``_one_row_scalar`` does
        for inputs): numpy's abs/max/multiply/add/isfinite on one number cost more than
        the whole output step otherwise. The float64 result is rounded once to the model's
        dtype, as the general path rounds it. None: the general path (which raises errors)."""
        if values.size != 1:
            return None
        x = float(values.flat[0])
        if conv is not None and not conv.identity:
            x = x * conv.factor + conv.shift
        # Below float32's largest value, rounding to float32 cannot overflow; NaN fails too.
        limit = _F32_MAX if values.dtype == _F32 else math.inf
        return _one(x, values.shape, values.dtype) if abs(x) < limit else None

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


def _rows_hint(request: PredictRequest) -> int:
    """A cheap upper bound of a request's rows (before any check): the length of its
    longest list or array input."""
    rows = 1
    for quantity in request.inputs.values():
        value = quantity.value
        if type(value) is list:
            rows = max(rows, len(value))
        elif isinstance(value, np.ndarray) and value.ndim:
            rows = max(rows, value.shape[0])
    return rows


def _one(x: float, shape: tuple[int, ...], dtype: np.dtype[Any] = _F64) -> ModelArray:
    """An array of `dtype` and `shape` holding the single value `x` (np.full costs three
    times more)."""
    if shape == (1,):
        return np.array([x], dtype=dtype)
    if shape == ():
        return np.array(x, dtype=dtype)
    return np.full(shape, x, dtype=dtype)


def _mismatch(
    role: str, name: str, model_unit: ParsedUnit, unit: ParsedUnit
) -> DimensionMismatchError:
    expected, received = model_unit.dimension_name, unit.dimension_name
    if role == "input":
        message = (
            f"input '{name}': expected a quantity of dimension {expected} (the model's unit "
            f"is '{model_unit.expression}'), received unit '{unit.expression}' of dimension "
            f"{received}"
        )
    else:
        message = (
            f"output '{name}': the model returns dimension {expected} (unit "
            f"'{model_unit.expression}'), requested unit '{unit.expression}' has dimension "
            f"{received}"
        )
    return DimensionMismatchError(
        message,
        **{role: name},
        expected_unit=model_unit.expression,
        expected_dimension=expected,
        received_unit=unit.expression,
        received_dimension=received,
    )


def _signature(model: LoadedModel, name: str) -> str:
    _, unit = model.inputs_by_name[name]  # only asked for declared inputs
    return f"unit '{unit.expression}', dimension {unit.dimension_name}"
