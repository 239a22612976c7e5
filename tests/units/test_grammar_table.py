"""Specification by example: what each accepted expression means, exactly.

Every factor on the expected side is an exact definition (see _table.py); the grammar
must agree to 1e-12 relative, i.e. to float rounding of a few operations.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from service.units import dimension_exponents, parse_unit

from ._table import TABLE, TEMPERATURES, Row


def test_table_is_large_and_unique() -> None:
    expressions = [row.expression for row in TABLE]
    assert len(expressions) >= 150
    assert len(set(expressions)) == len(expressions)


@pytest.mark.parametrize("row", TABLE, ids=[row.expression for row in TABLE])
def test_expression(row: Row) -> None:
    parsed = parse_unit(row.expression)
    assert dimension_exponents(parsed.dimension) == row.dims
    assert math.isclose(parsed.scale, float(row.factor), rel_tol=1e-12)
    assert parsed.offset == 0.0
    assert parsed.expression == row.expression.strip()


@pytest.mark.parametrize(("expression", "scale", "offset"), TEMPERATURES)
def test_absolute_temperature(expression: str, scale: Fraction, offset: Fraction) -> None:
    parsed = parse_unit(expression)
    assert dimension_exponents(parsed.dimension) == {"temperature": 1}
    assert math.isclose(parsed.scale, float(scale), rel_tol=1e-12)
    assert math.isclose(parsed.offset, float(offset), rel_tol=1e-12)


def test_celsius_and_fahrenheit_fixed_points() -> None:
    c, f, k = parse_unit("degC"), parse_unit("degF"), parse_unit("K")
    np.testing.assert_allclose(c.to_si(np.array([0.0, 100.0, -273.15])), [273.15, 373.15, 0.0])
    np.testing.assert_allclose(f.to_si(np.array([32.0, 212.0, -459.67])), [273.15, 373.15, 0.0])
    np.testing.assert_allclose(f.from_si(c.to_si(np.array([-40.0, 37.0]))), [-40.0, 98.6])
    np.testing.assert_allclose(k.from_si(np.array([1.5])), [1.5])


def test_left_associative_division() -> None:
    assert parse_unit("m/s/s").dimension == parse_unit("m/s^2").dimension
    assert parse_unit("J/kg/K").dimension == parse_unit("J/(kg*K)").dimension


def test_exact_symbol_wins_over_prefixed_reading() -> None:
    assert parse_unit("min").scale == 60.0  # not milli-inch
    assert dimension_exponents(parse_unit("Pa").dimension) == {"length": -1, "mass": 1, "time": -2}
    assert dimension_exponents(parse_unit("cd").dimension) == {"luminosity": 1}  # not centi-day


def test_parsing_is_cached() -> None:
    assert parse_unit("km/h") is parse_unit(" km/h ")
