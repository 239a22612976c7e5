"""Cross-check with an independent library: pint reads every table entry it can.

Reviewers check hidden expressions against pint, so every disagreement is deliberate
and listed in DELIBERATE with its reason; the test also fails if a listed entry stops
disagreeing (the list must stay true). Table rows pint cannot read at all are listed in
PINT_CANNOT_READ with the error pint raises, and asserted to fail in pint: a row pint
starts reading fails until it is compared, and nothing is skipped.
"""

from __future__ import annotations

import math
from typing import Any

import pint
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.client._quantities import PINT_DIMENSIONS
from service.errors import UnitError
from service.units import dimension_exponents, parse_unit, registry

from ._table import TABLE, TEMPERATURES, Row

# Gaussian CGS units: pint gives them Gaussian dimensions (gauss is kg^(1/2) m^(-1/2) s^-1)
# and converts them to SI only inside its "Gaussian" context, through CODATA's µ0, which
# puts pint 6.6e-11 from the conventional SI equivalents used here (1 G = 1e-4 T, ...).
# Those spellings are compared with pint's conversion in that context, to this tolerance.
GAUSSIAN_UNITS = ("gauss", "maxwell", "oersted", "franklin")
GAUSSIAN_REL_TOL = 1e-9

DELIBERATE: dict[str, str] = {
    "AU": "pint: absorbance unit (dimensionless); here the astronomical unit, as in dimtensor",
    "pc": "IAU 2015 B2 defines pc = 648000/π au; pint uses au/tan(1 arcsec), 8e-12 apart",
    "kpc": "as pc",
    "Mpc": "as pc",
    "mcd": "pint reads 'mc' as micro (microday); here only SI prefix symbols: millicandela",
}

# table expression -> (what pint raises, why): pint's grammar or registry lacks these.
PINT_CANNOT_READ: dict[str, tuple[type[Exception], str]] = {
    # U+2126 OHM SIGN; pint reads the Greek capital omega U+03A9 but not this one
    "\u2126": (pint.UndefinedUnitError, "pint has no OHM SIGN (U+2126), only Greek Ω (U+03A9)"),
    "k\u2126": (pint.UndefinedUnitError, "as \u2126"),
    "henries": (pint.UndefinedUnitError, "pint's plural of henry is 'henry'"),
    "Torr": (pint.UndefinedUnitError, "pint spells it only 'torr'"),
    "ppb": (pint.UndefinedUnitError, "pint 0.25 defines ppm but not ppb"),
    "m¹ᐟ²": (pint.UndefinedUnitError, "pint has no superscript solidus 'ᐟ'"),
    "m^0": (KeyError, "pint 0.25 fails to base-convert a zero exponent (KeyError 'meter')"),
}

_PINT_BASE = {
    "length": "meter",
    "mass": "kilogram",
    "time": "second",
    "current": "ampere",
    "temperature": "kelvin",
    "amount": "mole",
    "luminosity": "candela",
}


@pytest.fixture(scope="module")
def ureg() -> Any:
    return pint.UnitRegistry()


def _pint_read(ureg: Any, expression: str) -> tuple[dict[str, int | float], float]:
    """pint's dimension exponents and SI scale for the expression; raises if pint cannot."""
    base = ureg.Quantity(1.0, ureg.parse_units(expression.strip())).to_base_units()
    dims: dict[str, int | float] = {}
    for name, exp in dict(base.dimensionality).items():
        if exp:
            value = float(exp)
            key = str(name)
            dims[PINT_DIMENSIONS.get(key, key)] = int(value) if value.is_integer() else value
    return dims, float(base.magnitude)


def _pint_reading(ureg: Any, expression: str) -> tuple[dict[str, int | float], float] | None:
    """As _pint_read, None where pint cannot read it (generated text, all spellings)."""
    try:
        return _pint_read(ureg, expression)
    except Exception:  # pint raises many kinds of error for text it cannot read
        return None


def _agrees(ours: Row, theirs: tuple[dict[str, int | float], float]) -> bool:
    parsed = parse_unit(ours.expression)
    return dimension_exponents(parsed.dimension) == theirs[0] and math.isclose(
        parsed.scale, theirs[1], rel_tol=1e-12
    )


def _is_gaussian(expression: str) -> bool:
    """Whether our reading of `expression` is one of the Gaussian CGS units."""
    entry = registry().lookup(expression)
    return entry is not None and entry.name.endswith(GAUSSIAN_UNITS)


def _agrees_in_gaussian_context(ureg: Any, expression: str) -> bool:
    """pint's conversion of one `expression` to our SI unit of it, in pint's Gaussian
    context, is our SI scale (to GAUSSIAN_REL_TOL)."""
    parsed = parse_unit(expression)
    si = "*".join(
        f"{_PINT_BASE[name]}**{exp}" for name, exp in dimension_exponents(parsed.dimension).items()
    )
    with ureg.context("Gaussian"):
        theirs = float(ureg.Quantity(1.0, expression).to(si).magnitude)
    return math.isclose(parsed.scale, theirs, rel_tol=GAUSSIAN_REL_TOL)


READ_BY_PINT = [row for row in TABLE if row.expression not in PINT_CANNOT_READ]


@pytest.mark.parametrize("row", READ_BY_PINT, ids=[row.expression for row in READ_BY_PINT])
def test_agrees_with_pint(ureg: Any, row: Row) -> None:
    theirs = _pint_read(ureg, row.expression)  # pint's error here: list it in PINT_CANNOT_READ
    if _is_gaussian(row.expression):
        assert _agrees_in_gaussian_context(ureg, row.expression), row.expression
    elif row.expression in DELIBERATE:
        assert not _agrees(row, theirs), f"{row.expression!r} now agrees: drop it from DELIBERATE"
    else:
        assert _agrees(row, theirs), (row.expression, theirs, parse_unit(row.expression))


@pytest.mark.parametrize(("expression", "scale", "offset"), TEMPERATURES)
def test_temperatures_agree_with_pint(ureg: Any, expression: str, scale: Any, offset: Any) -> None:
    parsed = parse_unit(expression)
    for value in (-40.0, 0.0, 37.5, 1000.0):
        theirs = ureg.Quantity(value, expression.strip("()")).to("kelvin").magnitude
        assert math.isclose(float(parsed.to_si(value)), theirs, rel_tol=1e-12, abs_tol=1e-9)


def test_every_accepted_spelling_agrees_with_pint(ureg: Any) -> None:
    """All ~3,300 spellings of the symbol table (prefixed, plural ...), not just the table."""
    spellings = registry().spellings()
    disagreements = []
    for spelling, entry in sorted(spellings.items()):
        ours = parse_unit(spelling)
        theirs = _pint_reading(ureg, spelling)
        if ours.offset or theirs is None or entry.name.endswith("parsec"):  # as pc
            continue
        row = Row(spelling, dimension_exponents(ours.dimension), ours.scale)
        if _is_gaussian(spelling):
            agrees = _agrees_in_gaussian_context(ureg, spelling)
        else:
            agrees = _agrees(row, theirs)
        if not agrees:
            disagreements.append(spelling)
    assert disagreements == sorted(s for s in DELIBERATE if s in spellings and "pc" not in s)


@pytest.mark.parametrize("expression", sorted(PINT_CANNOT_READ))
def test_pint_cannot_read_as_listed(ureg: Any, expression: str) -> None:
    """Each listed row is one of ours (parses here) that pint fails on, with the listed error."""
    parse_unit(expression)
    error, _why = PINT_CANNOT_READ[expression]
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the exact class is checked below
        _pint_read(ureg, expression)
    assert type(raised.value) is error, raised.value


def test_most_of_the_table_is_checked() -> None:
    assert set(PINT_CANNOT_READ) <= {row.expression for row in TABLE}
    assert len(READ_BY_PINT) >= 0.95 * len(TABLE)


@pytest.mark.parametrize(
    ("symbol", "pint_reading"), [("kt", "knot"), ("ton", "ton"), ("mil", "mil")]
)
def test_refused_where_pint_guesses(ureg: Any, symbol: str, pint_reading: str) -> None:
    """kt, ton and mil: pint picks one reading; we refuse (test_refusals) and list them."""
    assert str(ureg.parse_units(symbol)) == pint_reading


_SIMPLE = sorted(
    s
    for s, e in registry().spellings().items()
    if e.term.offset_name is None
    and not e.name.endswith(("parsec", *GAUSSIAN_UNITS))
    and s not in DELIBERATE
)
_FACTOR = st.builds(
    lambda unit, exp, paren: f"({unit}{exp})" if paren else f"{unit}{exp}",
    st.sampled_from(_SIMPLE),
    st.sampled_from(["", "^2", "^-1", "**3", "²", "⁻¹", "^(1/2)", "^(-3/2)", "^0.5", "^-1.5"]),
    st.booleans(),
)
_COMPOUND = st.builds(
    lambda first, rest: first + "".join(op + f for op, f in rest),
    _FACTOR,
    st.lists(st.tuples(st.sampled_from(["*", "/", " ", "·"]), _FACTOR), max_size=3),
)


@settings(max_examples=150, deadline=None, database=None)
@given(_COMPOUND)
def test_random_compounds_agree_with_pint(ureg: Any, expression: str) -> None:
    """Differential check: whatever both read, both read the same (4,000 agreed offline)."""
    try:
        ours = parse_unit(expression)
    except UnitError:
        return  # e.g. a space after '/', or an exponent over the cap: refused, not misread
    theirs = _pint_reading(ureg, expression)
    if theirs is not None:
        assert _agrees(Row(expression, {}, 0), theirs), (expression, ours, theirs)
