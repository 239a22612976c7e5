"""Quantities across the wire: the user's DimArray, pint Quantity or ``(value, unit)`` pair
becomes numbers plus unit text, and an answer's numbers plus unit text become a DimArray or
a pint Quantity again.

Unit text is read with the server's own grammar (``service.units``: a parser over a symbol
table, never ``eval`` nor ``getattr(units, text)``). A dimtensor or pint unit is sent under
its own symbol only when that grammar reads the symbol as the very same unit (dimension,
scale and offset); otherwise its values are sent in coherent SI, which says the same
quantity in words every server knows. So nothing is lost whatever symbol a library prints.

Values are plain float64 numpy arrays from end to end: a numpy value on the left of a
DimArray operation crashes dimtensor (FIELD-NOTES), so the client does no DimArray
arithmetic at all; it only reads ``.data`` and ``.unit`` and builds new DimArrays.

dimtensor has no offset units: to it a DimArray in °C is a temperature difference (its
``celsius`` is K with scale 1), and it is sent as such. For an absolute temperature send a
pint Quantity or a ``(value, "degC")`` pair; an output asked in degC comes back as a
DimArray in a unit of scale 1 named ``degC``, as dimtensor's own ``celsius`` is.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from dimtensor import DimArray, Dimension, Unit

from service.errors import UnitError
from service.units import ParsedUnit, parse_unit, same_dimension

__all__ = [
    "PINT_DIMENSIONS",
    "FloatArray",
    "Wanted",
    "encode_input",
    "from_answer",
    "wanted_output",
]

FloatArray = npt.NDArray[np.float64]

# pint's base dimensions by the names dimtensor and the unit grammar give them (the tests'
# pint cross-check reads the same table).
PINT_DIMENSIONS = {
    "[length]": "length",
    "[mass]": "mass",
    "[time]": "time",
    "[current]": "current",
    "[temperature]": "temperature",
    "[substance]": "amount",
    "[luminosity]": "luminosity",
}


@dataclass(frozen=True)
class Wanted:
    """An output as the user asked for it: the unit text sent to the server (None: the
    model's unit), and the object to express the answer in (None: by ``returns``)."""

    text: str | None
    unit: Any = None


def encode_input(name: str, value: Any) -> tuple[FloatArray, str]:
    """One input as (float64 values, unit text the server's grammar reads).

    Raises:
        TypeError: a value without a unit (every number travels with its unit) or of a
            type the client does not know.
    """
    if isinstance(value, DimArray):
        return _from_dimtensor(_values(value.data, name), value.unit, name)
    if _is_pint(value, "Quantity"):
        return _from_pint(name, value)
    if isinstance(value, tuple) and len(value) == 2:
        values, unit = _values(value[0], name), value[1]
        if isinstance(unit, str):
            return values, unit
        if isinstance(unit, Unit):
            return _from_dimtensor(values, unit, name)
        if _is_pint(unit, "Unit"):
            return _from_pint(name, unit._REGISTRY.Quantity(values, unit))
        raise TypeError(
            f"input {name!r}: the unit of a (value, unit) pair must be text such as 'km/h', a "
            f"dimtensor Unit or a pint Unit, received {type(unit).__name__}"
        )
    raise TypeError(
        f"input {name!r}: expected a DimArray, a pint Quantity or a (value, unit) pair, "
        f"received {type(value).__name__}; every value needs its unit"
    )


def wanted_output(name: str, unit: Any) -> Wanted:
    """How to ask for output `name` in `unit`: text, a dimtensor Unit or a pint Unit."""
    if unit is None or isinstance(unit, str):
        return Wanted(unit)
    if isinstance(unit, Unit):
        parsed = _readable(unit.symbol, unit.dimension, unit.scale, 0.0)
        return Wanted(parsed.expression if parsed else _si_text(unit.dimension), unit)
    if _is_pint(unit, "Unit"):
        quantity = unit._REGISTRY.Quantity
        dim, zero, one = _pint_facts(quantity, unit, name)
        parsed = _readable(format(unit, "~C"), dim, one - zero, zero)
        return Wanted(parsed.expression if parsed else _si_text(dim), unit)
    raise TypeError(
        f"output {name!r}: a unit must be text, a dimtensor Unit or a pint Unit, received "
        f"{type(unit).__name__}"
    )


def from_answer(values: FloatArray, unit: ParsedUnit, wanted: Wanted, returns: Any) -> Any:
    """An answer's values (in `unit`) as the user wants them: a DimArray, or a pint
    Quantity when `wanted` is a pint unit or `returns` is a pint registry."""
    target = wanted.unit
    if isinstance(target, Unit):
        si = unit.to_si(values)
        return DimArray(si / target.scale, target)  # plain arrays; DimArray built last
    if target is not None:  # a pint unit
        return _pint_quantity(target._REGISTRY, unit, values).to(target)
    if returns is not None:
        return _pint_quantity(returns, unit, values)
    return DimArray(values, Unit(unit.expression, unit.dimension, unit.scale))


def _values(raw: Any, name: str) -> FloatArray:
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"input {name!r}: values must be numbers, {exc}") from None


def _from_dimtensor(values: FloatArray, unit: Unit, name: str) -> tuple[FloatArray, str]:
    parsed = _readable(unit.symbol, unit.dimension, unit.scale, 0.0)
    if parsed is not None:
        return values, parsed.expression
    return values * unit.scale, _si_text(unit.dimension)


def _from_pint(name: str, quantity: Any) -> tuple[FloatArray, str]:
    dim, zero, one = _pint_facts(type(quantity), quantity.units, name)
    parsed = _readable(format(quantity.units, "~C"), dim, one - zero, zero)
    if parsed is not None:
        return _values(quantity.magnitude, name), parsed.expression
    return _values(quantity.to_base_units().magnitude, name), _si_text(dim)


def _pint_facts(quantity: Any, unit: Any, name: str) -> tuple[Dimension, float, float]:
    """A pint unit's dimension, and the SI values of 0 and 1 of it (offset and scale)."""
    exponents: dict[str, Fraction] = {}
    for key, power in dict(unit.dimensionality).items():
        if key not in PINT_DIMENSIONS:
            raise TypeError(f"{name!r}: pint dimension {key} has no SI counterpart")
        exponents[PINT_DIMENSIONS[key]] = Fraction(power).limit_denominator(12)
    zero = float(quantity(0.0, unit).to_base_units().magnitude)
    one = float(quantity(1.0, unit).to_base_units().magnitude)
    return Dimension(**exponents), zero, one


def _readable(symbol: str, dim: Dimension, scale: float, offset: float) -> ParsedUnit | None:
    """`symbol` parsed, if the server's grammar reads it as exactly this unit."""
    try:
        parsed = parse_unit(symbol)
    except UnitError:
        return None
    same = (
        same_dimension(parsed.dimension, dim)
        and math.isclose(parsed.scale, scale, rel_tol=1e-12)
        and math.isclose(parsed.offset, offset, rel_tol=1e-12, abs_tol=1e-12)
    )
    return parsed if same else None


def _si_text(dim: Dimension) -> str:
    """Coherent SI text of a dimension (``kg*m^2*s^-2``), which the grammar always reads."""
    return ParsedUnit(expression="1", dimension=dim, scale=1.0).si_expression


def _pint_quantity(registry: Any, unit: ParsedUnit, values: FloatArray) -> Any:
    """`values` in `unit` as a quantity of `registry`: under the same text when pint reads
    it as the same unit, else in SI (pint knows SI; it may not know every symbol here)."""
    try:
        pint_unit = registry.parse_units(unit.expression)
        dim, zero, one = _pint_facts(registry.Quantity, pint_unit, unit.expression)
    except Exception:  # pint raises several kinds for text it does not read
        pint_unit = None
    if pint_unit is not None and (
        same_dimension(dim, unit.dimension)
        and math.isclose(one - zero, unit.scale, rel_tol=1e-12)
        and math.isclose(zero, unit.offset, rel_tol=1e-12, abs_tol=1e-12)
    ):
        return registry.Quantity(values, pint_unit)
    return registry.Quantity(unit.to_si(values), _si_text(unit.dimension))


def _is_pint(value: Any, kind: str) -> bool:
    """An instance of pint's Quantity or Unit, without importing pint (a user who passes
    one has imported it already)."""
    pint = sys.modules.get("pint")
    return pint is not None and isinstance(value, getattr(pint, kind))
