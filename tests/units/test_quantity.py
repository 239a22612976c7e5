"""ParsedUnit, conversion and the dimension helpers: the interface other modules use."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from dimtensor.core.dimensions import Dimension

import service.units as units
from service.errors import IncompatibleUnitsError
from service.units import (
    ParsedUnit,
    conversion,
    dimension_exponents,
    dimension_text,
    parse_unit,
    same_dimension,
)


def test_exports() -> None:
    assert set(units.__all__) == {
        "CACHE_SIZE",
        "ParsedUnit",
        "conversion",
        "dimension_exponents",
        "dimension_text",
        "parse_unit",
        "registry",
        "same_dimension",
    }
    for name in units.__all__:
        assert hasattr(units, name)


@pytest.mark.parametrize(
    ("dimension", "text", "exponents"),
    [
        (Dimension(), "dimensionless", {}),
        (Dimension(length=1, time=-1), "length*time^-1", {"length": 1, "time": -1}),
        (Dimension(mass=Fraction(1, 2)), "mass^(1/2)", {"mass": 0.5}),
        (Dimension(length=Fraction(-3, 2)), "length^(-3/2)", {"length": -1.5}),
        (
            Dimension(mass=1, length=2, time=-3, current=-1),
            "length^2*mass*time^-3*current^-1",
            {"length": 2, "mass": 1, "time": -3, "current": -1},
        ),
        (
            Dimension(temperature=1, amount=-1, luminosity=1),
            "temperature*amount^-1*luminosity",
            {"temperature": 1, "amount": -1, "luminosity": 1},
        ),
    ],
)
def test_dimension_text_and_exponents(
    dimension: Dimension, text: str, exponents: dict[str, int | float]
) -> None:
    assert dimension_text(dimension) == text
    assert dimension_exponents(dimension) == exponents
    assert all(type(v) is int for v in exponents.values() if float(v).is_integer())


def test_integral_exponents_are_ints() -> None:
    exps = dimension_exponents(parse_unit("kg*m^2/s^2").dimension)
    assert exps == {"length": 2, "mass": 1, "time": -2}
    assert all(type(v) is int for v in exps.values())


def test_same_dimension_ignores_symbols() -> None:
    assert same_dimension(parse_unit("N").dimension, parse_unit("kg*m/s^2").dimension)
    assert not same_dimension(parse_unit("N").dimension, parse_unit("J").dimension)


def test_parsed_unit_is_frozen_and_hashable() -> None:
    unit = parse_unit("km/h")
    assert isinstance(unit, ParsedUnit)
    assert isinstance(unit.dimension, Dimension)
    with pytest.raises(AttributeError):
        unit.scale = 2.0  # type: ignore[misc]
    assert hash(unit) == hash(parse_unit("km/h"))


@pytest.mark.parametrize(
    ("expression", "si"),
    [
        ("J", "kg*m^2*s^-2"),
        ("km/h", "m*s^-1"),
        ("m^(1/2)", "m^(1/2)"),
        ("%", "1"),
        ("V", "kg*m^2*s^-3*A^-1"),
        ("mol/(L*s)", "m^-3*s^-1*mol"),
        ("lm/m^2", "m^-2*cd"),
        ("degC", "K"),
    ],
)
def test_si_expression(expression: str, si: str) -> None:
    assert parse_unit(expression).si_expression == si


def test_is_dimensionless() -> None:
    assert parse_unit("1").is_dimensionless
    assert parse_unit("rad").is_dimensionless
    assert parse_unit("m/km").is_dimensionless
    assert not parse_unit("m").is_dimensionless


def test_to_and_from_si_are_plain_float64() -> None:
    unit = parse_unit("km")
    out = unit.to_si(np.array([1, 2], dtype=np.int32))
    assert type(out) is np.ndarray
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1000.0, 2000.0])
    np.testing.assert_array_equal(unit.from_si(np.array([500.0])), [0.5])


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        ("km/h", "m/s", 36.0, 10.0),
        ("mph", "km/h", 1.0, 1.609344),
        ("degC", "degF", 100.0, 212.0),
        ("degF", "degC", -40.0, -40.0),
        ("degC", "K", 0.0, 273.15),
        ("K", "degC", 0.0, -273.15),
        ("delta_degC", "delta_degF", 1.0, 1.8),
        ("atm", "Torr", 1.0, 760.0),
        ("kWh", "MJ", 1.0, 3.6),
    ],
)
def test_conversion(src: str, dst: str, value: float, expected: float) -> None:
    factor, shift = conversion(parse_unit(src), parse_unit(dst))
    assert value * factor + shift == pytest.approx(expected, rel=1e-12)


def test_incompatible_conversion_names_both_sides() -> None:
    with pytest.raises(IncompatibleUnitsError) as info:
        conversion(parse_unit("m/s"), parse_unit("kg"))
    message = info.value.message
    for part in ("'m/s'", "'kg'", "length*time^-1", "mass"):
        assert part in message
    assert info.value.details["source_dimension"] == "length*time^-1"
    assert isinstance(info.value, ValueError)


def test_celsius_and_kelvin_are_compatible_but_offset() -> None:
    factor, shift = conversion(parse_unit("degC"), parse_unit("degR"))
    assert factor == pytest.approx(1.8)
    assert shift == pytest.approx(273.15 * 1.8)


@pytest.mark.parametrize(
    ("src", "dst", "factor"),
    [
        ("mph", "km/h", 1.609344),
        ("ft/s/s", "m/s^2", 0.3048),
        ("mph", "m/s", 0.44704),
        ("in", "cm", 2.54),
        ("kWh", "J", 3.6e6),
        ("lb", "g", 453.59237),
    ],
)
def test_conversion_factors_are_rounded_once(src: str, dst: str, factor: float) -> None:
    """Scales are exact rationals through the whole definition chain and every
    expression, so a factor that is exact in decimal comes out as that very float."""
    assert conversion(parse_unit(src), parse_unit(dst))[0] == factor
