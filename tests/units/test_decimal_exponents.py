"""Decimal exponents: a half, third or quarter written as a decimal reads as that fraction.

Dimension exponents are exact fractions, so a decimal is read only when it spells one a
physicist means (``m^0.5``); every other decimal is refused with its fraction form, and
``test_refusals`` holds the messages.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.units import dimension_exponents, parse_unit
from service.units._parser import decimal_exponent

READINGS = [
    ("0.5", Fraction(1, 2)),
    ("1.5", Fraction(3, 2)),
    ("0.25", Fraction(1, 4)),
    ("0.75", Fraction(3, 4)),
    ("2.0", Fraction(2)),
    ("0.333", Fraction(1, 3)),
    ("0.3333", Fraction(1, 3)),
    ("0.667", Fraction(2, 3)),  # rounded
    ("0.666", Fraction(2, 3)),  # cut
    ("1.333", Fraction(4, 3)),
    ("0.3", None),
    ("0.33", None),  # two places do not say "third"
    ("0.334", None),
    ("0.125", None),  # an eighth: write (1/8)
    ("0.2", None),
]


@pytest.mark.parametrize(("text", "meant"), READINGS)
def test_what_a_decimal_spells(text: str, meant: Fraction | None) -> None:
    assert decimal_exponent(text) == meant


@pytest.mark.parametrize(
    ("decimal", "fraction"),
    [
        ("m^0.5", "m^(1/2)"),
        ("Hz^-0.5", "Hz^(-1/2)"),
        ("s^0.25", "s^(1/4)"),
        ("m^-0.333", "m^(-1/3)"),
    ],
)
def test_a_decimal_exponent_is_its_fraction(decimal: str, fraction: str) -> None:
    ours, theirs = parse_unit(decimal), parse_unit(fraction)
    assert dimension_exponents(ours.dimension) == dimension_exponents(theirs.dimension)
    assert ours.scale == theirs.scale


@given(st.integers(-36, 36), st.sampled_from([2, 3, 4]), st.integers(3, 6))
def test_every_written_half_third_and_quarter_reads_back(
    numerator: int, denominator: int, places: int
) -> None:
    """k/2, k/3 and k/4, written to 3-6 places (rounded), read as exactly that fraction."""
    value = Fraction(numerator, denominator)
    text = f"{abs(float(value)):.{places}f}"
    assert decimal_exponent(text) == abs(value)
