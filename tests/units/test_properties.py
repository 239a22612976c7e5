"""Properties that hold for every unit, not just the listed examples (hypothesis)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import UnitError
from service.units import conversion, parse_unit

from ._table import TABLE, TEMPERATURES

FAST = settings(max_examples=150, deadline=None, database=None)
UNITS = [row.expression for row in TABLE]
ALL_UNITS = UNITS + [t[0] for t in TEMPERATURES]
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
@given(st.sampled_from(UNITS), st.sampled_from(UNITS), VALUES)
def test_conversion_matches_si_round_trip(a: str, b: str, value: float) -> None:
    ua, ub = parse_unit(a), parse_unit(b)
    if ua.dimension != ub.dimension:
        return
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
