"""The safe unit grammar: client text -> dimtensor ``Dimension`` + SI scale + offset.

dimtensor has no public parser from text to a unit, and its private loader uses
``eval``. Here client text is tokenized and parsed by recursive descent over a symbol
table kept as data (``definitions.txt``, read at import); it never reaches ``eval``,
``exec``, ``getattr`` or an import. Every refusal is a ``service.errors.UnitError``
subclass whose message says what was wrong, what was expected and what was received.

Policies (the data file header has the full list):

* Products ``*`` ``·`` ``⋅`` or a space; quotients ``/`` left-associative
  (``m/s/s`` = m/s²); powers ``^`` ``**`` or superscripts (``m²``, ``s⁻¹``), with
  integer or parenthesized rational exponents (``m^(1/2)``, ``m^(-3/2)``).
* ``1`` and ``dimensionless`` are the dimensionless unit; other numbers are refused.
* A digit glued to a symbol (``m2``) is refused with "did you mean 'm^2'".
* A space after ``/`` (``W/m^2 K``) is refused as ambiguous.
* degC/degF carry an offset and may only stand alone; in a compound they are
  refused (OffsetUnitError): use K, degR, delta_degC or delta_degF.
* kt, ton, mil and PS are refused as ambiguous, and so is a space inside a
  temperature symbol ('deg C' would be degree*coulomb); see the data file.
* Exact spellings win over prefixed readings; prefixes apply only where the data
  file says so (so 'min', 'cd', 'Pa', 'pt', 'hbar' are never prefixed readings).
* Limits: text length (``max_length``), 100 tokens, 8 nested parentheses,
  written exponents |e| <= 12 with denominators <= 12, resulting |e| <= 24.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from service.errors import UnitLimitError, UnitSyntaxError

from ._parser import as_float, parse_expression
from ._quantity import (
    ParsedUnit,
    conversion,
    dimension_exponents,
    dimension_from_exponents,
    dimension_text,
    same_dimension,
)
from ._registry import Registry, default_registry

__all__ = [
    "CACHE_SIZE",
    "ParsedUnit",
    "conversion",
    "dimension_exponents",
    "dimension_text",
    "parse_unit",
    "registry",
    "same_dimension",
]

CACHE_SIZE = 4096
_REGISTRY = default_registry()


def registry() -> Registry:
    """The symbol table in use (read-only by convention; for docs, tests and listings)."""
    return _REGISTRY


def parse_unit(text: str, max_length: int = 256) -> ParsedUnit:
    """Parse a client's unit expression.

    Args:
        text: e.g. ``"km/h"``, ``"kg*m^2/s^2"``, ``"µm"``, ``"degC"``, ``"1"``.
        max_length: longer text is refused before any work is done.

    Raises:
        UnitSyntaxError, UnknownUnitError, AmbiguousUnitError, UnitLimitError,
        OffsetUnitError: all ``UnitError`` (a ``ValueError``); nothing else for a str.
    """
    if not isinstance(text, str):
        raise UnitSyntaxError(
            f"expected a unit expression as text, received {type(text).__name__}",
            received=type(text).__name__,
        )
    if len(text) > max_length:
        raise UnitLimitError(
            f"unit expression of {len(text)} characters starting {text[:20]!r} is too long; "
            f"expected at most {max_length}",
            length=len(text),
            limit=max_length,
        )
    expression = text.strip()
    if not expression:
        raise UnitSyntaxError(
            f"empty unit expression {text!r}; expected a unit such as 'm/s', or '1' "
            "for a dimensionless quantity",
            expression=text,
        )
    return _parse_cached(expression)


@lru_cache(maxsize=CACHE_SIZE)
def _parse_cached(expression: str) -> ParsedUnit:
    term = parse_expression(expression, _REGISTRY)
    return ParsedUnit(
        expression=expression,
        dimension=dimension_from_exponents(term.exponents),
        scale=as_float(term.scale),
        offset=as_float(term.offset),
        exact=(term.scale, term.offset)
        if isinstance(term.scale, Fraction) and isinstance(term.offset, Fraction | int)
        else None,
    )
