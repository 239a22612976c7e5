"""ParsedUnit and the arithmetic the service needs from it: SI conversion and dimension text.

Values are converted with plain float64 numpy, never DimArray: dimtensor's DimArray
segfaults when a numpy array is on the left of an operation (FIELD-NOTES), and the
service needs only ``value * scale + offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from dimtensor.core.dimensions import Dimension

from service.errors import IncompatibleUnitsError

from ._parser import BASE_DIMENSIONS

__all__ = [
    "ParsedUnit",
    "conversion",
    "dimension_exponents",
    "dimension_from_exponents",
    "dimension_text",
    "same_dimension",
]

FloatArray = npt.NDArray[np.float64]

_SI_SYMBOLS = {  # the order of si_expression: kg*m^2*s^-2, the way physicists write it
    "mass": "kg",
    "length": "m",
    "time": "s",
    "current": "A",
    "temperature": "K",
    "amount": "mol",
    "luminosity": "cd",
}


def _exponent_map(dim: Dimension) -> dict[str, Fraction]:
    return {name: Fraction(getattr(dim, name)) for name in BASE_DIMENSIONS}


def _power_text(base: str, exp: Fraction) -> str:
    if exp == 1:
        return base
    if exp.denominator == 1:
        return f"{base}^{exp.numerator}"
    return f"{base}^({exp.numerator}/{exp.denominator})"


def dimension_from_exponents(exponents: tuple[Fraction, ...]) -> Dimension:
    """A dimtensor Dimension from exponents in BASE_DIMENSIONS order."""
    return Dimension(**dict(zip(BASE_DIMENSIONS, exponents, strict=True)))


@lru_cache(maxsize=1024)
def dimension_text(dim: Dimension) -> str:
    """ASCII, full base names: ``length*time^-1``, ``mass^(1/2)``, ``dimensionless``.

    Meant for messages and API documents, where dimtensor's ``L¹T⁻¹`` is unreadable to
    many clients and not ASCII. Memoized: every answer names the dimension of every
    output, and the text is built from Fractions (a service sees few dimensions).
    """
    parts = [_power_text(n, e) for n, e in _exponent_map(dim).items() if e != 0]
    return "*".join(parts) if parts else "dimensionless"


def dimension_exponents(dim: Dimension) -> dict[str, int | float]:
    """Non-zero exponents by base name; ``int`` when integral (JSON-friendly)."""
    out: dict[str, int | float] = {}
    for name, exp in _exponent_map(dim).items():
        if exp != 0:
            out[name] = exp.numerator if exp.denominator == 1 else float(exp)
    return out


def same_dimension(a: Dimension, b: Dimension) -> bool:
    """Dimension equality (dimtensor's Unit equality also compares symbols; this doesn't)."""
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class ParsedUnit:
    """A client's unit expression, understood: ``SI_value = value * scale + offset``.

    ``offset`` is non-zero only for an absolute temperature standing alone (degC, degF);
    ``scale`` is then the size of one degree in kelvin.
    """

    expression: str
    dimension: Dimension
    scale: float
    offset: float = 0.0
    # (scale, offset) as exact rationals when the definition chain allows it, so that a
    # conversion factor is rounded once (mph -> km/h is exactly 1.609344).
    exact: tuple[Fraction, Fraction] | None = field(default=None, compare=False, repr=False)
    # dimension_text(dimension), made once: answers name every output's dimension, and
    # looking the text up by Dimension hashes seven Fractions each time.
    dimension_name: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimension_name", dimension_text(self.dimension))

    @property
    def is_dimensionless(self) -> bool:
        return bool(self.dimension.is_dimensionless)

    @property
    def si_expression(self) -> str:
        """ASCII coherent SI unit of the same dimension, re-parseable: ``kg*m^2*s^-2``."""
        exps = _exponent_map(self.dimension)
        parts = [_power_text(sym, exps[name]) for name, sym in _SI_SYMBOLS.items() if exps[name]]
        return "*".join(parts) if parts else "1"

    def to_si(self, values: npt.ArrayLike) -> FloatArray:
        """Values in this unit -> values in SI (float64 numpy)."""
        out = np.asarray(values, dtype=np.float64) * self.scale
        if self.offset:
            out = out + self.offset
        return out

    def from_si(self, values: npt.ArrayLike) -> FloatArray:
        """Values in SI -> values in this unit (float64 numpy)."""
        out = np.asarray(values, dtype=np.float64)
        if self.offset:
            out = out - self.offset
        return out / self.scale


def conversion(src: ParsedUnit, dst: ParsedUnit) -> tuple[float, float]:
    """``(factor, shift)`` such that ``dst_value = src_value * factor + shift``.

    Raises:
        IncompatibleUnitsError: the dimensions differ (both expressions and both
            dimensions are named in the message and details).
    """
    if not same_dimension(src.dimension, dst.dimension):
        src_dim, dst_dim = src.dimension_name, dst.dimension_name
        raise IncompatibleUnitsError(
            f"cannot convert from {src.expression!r} ({src_dim}) to {dst.expression!r} "
            f"({dst_dim}): expected a unit of dimension {dst_dim}, received {src_dim}",
            source=src.expression,
            target=dst.expression,
            source_dimension=src_dim,
            target_dimension=dst_dim,
        )
    if src.exact is not None and dst.exact is not None:
        (s_scale, s_offset), (d_scale, d_offset) = src.exact, dst.exact
        return float(s_scale / d_scale), float((s_offset - d_offset) / d_scale)
    return src.scale / dst.scale, (src.offset - dst.offset) / dst.scale
