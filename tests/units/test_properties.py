"""Properties that hold for every unit, not just the listed examples (hypothesis)."""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from service.errors import UnitError
from service.units import conversion, parse_unit

from ._table import TABLE, TEMPERATURES

FAST = settings(max_examples=150, deadline=None, database=None)
UNITS = [row.expression for row in TABLE]
ALL_UNITS = UNITS + [t[0] for t in TEMPERATURES]


def _units_by_dimension() -> list[list[str]]:
    """The table's units grouped by their listed dimension; only groups with two or more."""
    groups: defaultdict[tuple[tuple[str, int | float], ...], list[str]] = defaultdict(list)
    for row in TABLE:
        groups[tuple(sorted(row.dims.items()))].append(row.expression)
    return [units for units in groups.values() if len(units) >= 2]


# Two different units of one dimension: drawn from one group, so every example converts
# (independent draws share a dimension in about 5 % of the pairs, and are the same unit in most).
SAME_DIMENSION_PAIRS = (
    st.sampled_from(_units_by_dimension())
    .flatmap(lambda units: st.permutations(units))
    .map(lambda units: (units[0], units[1]))
)
# Normal floats only: a subnormal (or one that a 1e-30 scale makes subnormal) has lost
# precision before the grammar is involved.
VALUES = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-200, max_value=1e9),
    st.floats(min_value=-1e9, max_value=-1e-200),
)

# Characters the grammar gives meaning to, so that generated text goes deep into it.
GRAMMAR_ALPHABET = "mskgKAdegCFhµμu°²³⁻¹ᐟ^*/·() -+.0123456789%ΩÅkMGnpabcilt\t"


@FAST
@given(st.sampled_from(ALL_UNITS), st.lists(VALUES, min_size=1, max_size=8))
def test_there_and_back(expression: str, values: list[float]) -> None:
    unit = parse_unit(expression)
    x = np.array(values, dtype=np.float64)
    back = unit.from_si(unit.to_si(x))
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-9 if unit.offset else 0.0)


@FAST
@given(st.sampled_from(ALL_UNITS))
def test_si_expression_reparses_to_scale_one(expression: str) -> None:
    unit = parse_unit(expression)
    si = parse_unit(unit.si_expression)
    assert si.dimension == unit.dimension
    assert si.scale == 1.0
    assert si.offset == 0.0
    assert unit.si_expression.isascii()


@FAST
@given(st.sampled_from(UNITS), st.sampled_from(UNITS))
def test_products_and_quotients_compose(a: str, b: str) -> None:
    ua, ub = parse_unit(a), parse_unit(b)
    product, quotient = parse_unit(f"({a})*({b})"), parse_unit(f"({a})/({b})")
    assert product.dimension == ua.dimension * ub.dimension
    assert quotient.dimension == ua.dimension / ub.dimension
    assert math.isclose(product.scale, ua.scale * ub.scale, rel_tol=1e-12)
    assert math.isclose(quotient.scale, ua.scale / ub.scale, rel_tol=1e-12)


@FAST
@given(SAME_DIMENSION_PAIRS, VALUES)
def test_conversion_matches_si_round_trip(pair: tuple[str, str], value: float) -> None:
    a, b = pair
    ua, ub = parse_unit(a), parse_unit(b)
    assert ua.dimension == ub.dimension, (a, b)  # the table groups them: the parser must agree
    event("different scales" if ua.scale != ub.scale else "one scale (two spellings)")
    factor, shift = conversion(ua, ub)
    direct = value * factor + shift
    via_si = float(ub.from_si(ua.to_si(value)))
    assert math.isclose(direct, via_si, rel_tol=1e-12, abs_tol=1e-300)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text())
def test_any_text_raises_only_unit_errors(text: str) -> None:
    with contextlib.suppress(UnitError):
        parse_unit(text)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet=GRAMMAR_ALPHABET, max_size=40))
def test_grammar_shaped_text_raises_only_unit_errors(text: str) -> None:
    try:
        unit = parse_unit(text)
    except UnitError:
        return
    assert math.isfinite(unit.scale)
    assert unit.scale > 0
