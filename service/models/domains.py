"""Validity domains: where a model may be asked, checked in the model's own units.

A manifest's ``domain`` gives each bound in a unit of its author's choosing. Here, once,
when the model loads, every bound is parsed, checked against the input's dimension,
converted into the input's unit and ordered (``lower < upper``); what is left for a
request is a comparison or two per input. A scalar input arrives on the core's 1-row
shortcut as a Python float, and is compared as one (numpy would cost more than the
check); arrays are compared with numpy and reduced to one flag per row.

Nothing here decides what happens to a row outside: the core applies the policy
(``flag``, ``refuse``, ``ignore``) and the doors show the flags.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from service.errors import ManifestError, UnitError
from service.models.manifest import Bound, DomainSpec, TensorSpec
from service.units import ParsedUnit, conversion, parse_unit, same_dimension

__all__ = [
    "ROUNDING",
    "BoolArray",
    "InputDomain",
    "ModelDomain",
    "Violation",
    "build_domain",
    "declared",
    "declared_json",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Violation:
    """The first value of an input found outside: its row, the value and the bounds that
    apply to its element, all in the model's unit (None: no bound on that side)."""

    row: int
    value: float
    lower: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class InputDomain:
    """One input's domain in the model's unit: ``lower``/``upper`` are floats for a bound
    shared by every element, arrays of the per-row shape for per-element bounds."""

    name: str
    index: int
    shape: tuple[int, ...]
    unit: ParsedUnit
    spec: DomainSpec
    lower: float | FloatArray | None
    upper: float | FloatArray | None
    lower_open: bool
    upper_open: bool
    # The bounds compared with: the declared ones moved by ROUNDING (relative) so that a
    # value equal to a bound up to the rounding of a unit conversion (2800 mrad is
    # 2.8000000000000003 rad) counts as equal: inside a closed end, outside an open one.
    lo: float | FloatArray | None
    hi: float | FloatArray | None

    def outside(self, value: FloatArray | float, rows: int) -> BoolArray | None:
        """One flag per row (None: every row inside). `value` is the core's prepared
        input: a float (one scalar), an array without the row axis (broadcast to every
        row) or ``(rows, *shape)``."""
        if isinstance(value, float):
            return np.ones(rows, dtype=bool) if self._out_float(value) else None
        bad = self._out_array(value)
        if value.ndim == len(self.shape):  # one value for every row
            return np.ones(rows, dtype=bool) if bad.any() else None
        per_row = bad.reshape(bad.shape[0], -1).any(axis=1) if self.shape else bad
        return per_row if per_row.any() else None

    def _out_float(self, x: float) -> bool:
        """A scalar input's check in Python floats (its bounds are floats: see
        ``_in_model_unit``)."""
        lo, hi = self.lo, self.hi
        if lo is not None and bool(x <= lo if self.lower_open else x < lo):
            return True
        return hi is not None and bool(x >= hi if self.upper_open else x > hi)

    def _out_array(self, x: FloatArray) -> BoolArray:
        bad = np.zeros(x.shape, dtype=bool)
        if self.lo is not None:
            bad |= (x <= self.lo) if self.lower_open else (x < self.lo)
        if self.hi is not None:
            bad |= (x >= self.hi) if self.upper_open else (x > self.hi)
        return bad

    def first_violation(self, value: FloatArray | float, mask: BoolArray) -> Violation:
        """Where the first flagged row leaves the domain (for a refusal's message)."""
        row = int(np.flatnonzero(mask)[0])
        if isinstance(value, float):
            return Violation(row, value, _at(self.lower, 0), _at(self.upper, 0))
        arr = np.asarray(value)
        elements = (arr if arr.ndim == len(self.shape) else arr[row]).ravel()
        element = int(np.flatnonzero(self._out_array(elements.reshape(self.shape)).ravel())[0])
        return Violation(
            row, float(elements[element]), _at(self.lower, element), _at(self.upper, element)
        )

    def describe(self, lower: float | None, upper: float | None, unit: str) -> str:
        """The interval as a reader writes it: ``[0, 90] deg``, ``> 0 m/s^2``."""
        if lower is not None and upper is not None:
            left, right = "(" if self.lower_open else "[", ")" if self.upper_open else "]"
            return f"{left}{lower:.6g}, {upper:.6g}{right} {unit}"
        if lower is not None:
            return f"{'>' if self.lower_open else '>='} {lower:.6g} {unit}"
        return f"{'<' if self.upper_open else '<='} {upper:.6g} {unit}"


def declared(spec: TensorSpec) -> dict[str, Any] | None:
    """An input's domain as its manifest declares it, each bound with its effective unit:
    what ``GET /v1/models/{name}`` and the OIP metadata show (None: no domain)."""
    domain = spec.domain
    if domain is None:
        return None
    out: dict[str, Any] = {}
    for side, bound in domain.bounds():
        out[side] = {
            "value": bound.value,
            "unit": bound.unit or domain.unit or spec.unit,
            "open": bound.open,
        }
    if domain.description:
        out["description"] = domain.description
    return out


def declared_json(spec: TensorSpec) -> str | None:
    """``declared`` as compact JSON text (OIP parameters take only scalars)."""
    found = declared(spec)
    return None if found is None else json.dumps(found, separators=(",", ":"))


def _at(bound: float | FloatArray | None, element: int) -> float | None:
    if bound is None or isinstance(bound, float):
        return bound
    return float(bound.ravel()[element])


@dataclass(frozen=True, slots=True)
class ModelDomain:
    """Every input domain of a model, in declaration order."""

    inputs: tuple[InputDomain, ...]

    def check(self, values: Sequence[FloatArray | float], rows: int) -> dict[str, BoolArray]:
        """The rows outside, by input (inputs with every row inside are left out)."""
        found: dict[str, BoolArray] = {}
        for domain in self.inputs:
            mask = domain.outside(values[domain.index], rows)
            if mask is not None:
                found[domain.name] = mask
        return found


def build_domain(specs: Sequence[TensorSpec], units: Sequence[ParsedUnit]) -> ModelDomain | None:
    """The inputs' domains in model units; None when no input declares one. Every
    refusal is a :class:`ManifestError` naming the input, the bound and what was wrong."""
    inputs = tuple(
        _input_domain(index, spec, unit, spec.domain)
        for index, (spec, unit) in enumerate(zip(specs, units, strict=True))
        if spec.domain is not None
    )
    return ModelDomain(inputs) if inputs else None


def _input_domain(
    index: int, spec: TensorSpec, unit: ParsedUnit, domain: DomainSpec
) -> InputDomain:
    shape = tuple(spec.shape)
    lower = _in_model_unit(spec, unit, domain, "lower", domain.lower)
    upper = _in_model_unit(spec, unit, domain, "upper", domain.upper)
    if lower is not None and upper is not None and not np.all(np.less(lower, upper)):
        raise ManifestError(
            f"input {spec.name!r}: domain.lower must be below domain.upper (in the input's "
            f"unit {unit.expression!r}), received lower {_text(lower)} and upper "
            f"{_text(upper)}",
            tensor=spec.name,
        )
    lower_open = bool(domain.lower and domain.lower.open)
    upper_open = bool(domain.upper and domain.upper.open)
    return InputDomain(
        spec.name,
        index,
        shape,
        unit,
        domain,
        lower,
        upper,
        lower_open,
        upper_open,
        _moved(lower, -1 if not lower_open else 1),
        _moved(upper, 1 if not upper_open else -1),
    )


ROUNDING = 1e-12
"""Relative width within which a value counts as equal to a bound (conversions between
units round at about 1e-16; a domain is never meant to this precision)."""


def _moved(bound: float | FloatArray | None, direction: int) -> float | FloatArray | None:
    """`bound` moved outward (+1 up, -1 down) by ROUNDING of its magnitude (0 stays 0)."""
    if bound is None:
        return None
    if isinstance(bound, float):
        return bound + direction * abs(bound) * ROUNDING
    return bound + direction * np.abs(bound) * ROUNDING


def _in_model_unit(
    spec: TensorSpec, unit: ParsedUnit, domain: DomainSpec, side: str, bound: Bound | None
) -> float | FloatArray | None:
    """One bound converted into the input's unit: a float, or an array of its shape."""
    if bound is None:
        return None
    text = bound.unit or domain.unit or spec.unit
    try:
        given = parse_unit(text)
    except UnitError as exc:
        raise ManifestError(
            f"input {spec.name!r}: domain.{side} unit {text!r} is not a valid unit: {exc.message}",
            tensor=spec.name,
        ) from exc
    if not same_dimension(given.dimension, unit.dimension):
        raise ManifestError(
            f"input {spec.name!r}: domain.{side} must have the input's dimension "
            f"{unit.dimension_name} (unit {unit.expression!r}), received unit {text!r} of "
            f"dimension {given.dimension_name}",
            tensor=spec.name,
            expected_dimension=unit.dimension_name,
            received_dimension=given.dimension_name,
        )
    factor, shift = conversion(given, unit)
    value = bound.value
    if isinstance(value, list) and spec.shape:
        return np.asarray(value, dtype=np.float64).reshape(spec.shape) * factor + shift
    if isinstance(value, list):  # one value per element of a scalar: that value
        value = value[0]
    converted = value * factor + shift
    if not math.isfinite(converted):
        raise ManifestError(
            f"input {spec.name!r}: domain.{side} {bound.value} {text} is not a finite value "
            f"in {unit.expression!r}",
            tensor=spec.name,
        )
    return converted


def _text(value: float | FloatArray) -> str:
    return f"{value:g}" if isinstance(value, float) else str(np.asarray(value).tolist())
