"""Specification of refusals: each expression, the error class, and the part it names.

A refusal must say what was wrong, what was expected and what was received; here each
message is checked to quote the offending part, so a client can find it in its text.
"""

from __future__ import annotations

import pickle

import pytest

from service.errors import (
    AmbiguousUnitError,
    LogarithmicUnitError,
    OffsetUnitError,
    UnitError,
    UnitLimitError,
    UnitSyntaxError,
    UnknownUnitError,
)
from service.units import parse_unit

REFUSED: list[tuple[str, type[UnitError], str]] = [
    # unknown symbols, with the symbol quoted
    ("kmh/s", UnknownUnitError, "'kmh'"),
    ("foo", UnknownUnitError, "'foo'"),
    ("meterz", UnknownUnitError, "'meterz'"),
    ("KM", UnknownUnitError, "'KM'"),
    ("hz", UnknownUnitError, "'hz'"),
    ("m/sekunde", UnknownUnitError, "'sekunde'"),
    ("°K", UnknownUnitError, "did you mean 'K'"),
    ("kilofoot", UnknownUnitError, "'kilofoot'"),  # foot takes no prefixes
    ("kmin", UnknownUnitError, "'kmin'"),
    ("mkm", UnknownUnitError, "'mkm'"),  # no double prefixes
    ("da", UnknownUnitError, "'da'"),  # a prefix alone
    ("µ", UnknownUnitError, "'µ'"),
    ("ppt", UnknownUnitError, "'ppt'"),
    ("degc", UnknownUnitError, "'degc'"),
    ("__class__", UnknownUnitError, "'__class__'"),
    ("exec", UnknownUnitError, "'exec'"),
    ("Unit", UnknownUnitError, "'Unit'"),
    ("hectobar", UnknownUnitError, "'hectobar'"),  # bar takes no hecto: hbar is ħ
    ("Gb", UnknownUnitError, "'Gb'"),  # barn takes no giga (pint: gilbert)
    ("__import__('os').system('id')", UnitSyntaxError, "'('"),
    ("units.c", UnitSyntaxError, "'.'"),
    # declared ambiguities
    ("kt", AmbiguousUnitError, "'kt'"),
    ("ton", AmbiguousUnitError, "'ton'"),
    ("mil", AmbiguousUnitError, "'mil'"),
    ("PS", AmbiguousUnitError, "'PS'"),
    ("kt/h", AmbiguousUnitError, "'kt'"),
    # a space inside a temperature symbol would silently be degree*coulomb
    ("deg C", AmbiguousUnitError, "'degC'"),
    ("° F", AmbiguousUnitError, "'°F'"),
    ("J/degree C", AmbiguousUnitError, "'degC'"),
    # offset temperatures in compounds
    ("degC/s", OffsetUnitError, "'degC'"),
    ("degC^2", OffsetUnitError, "'degC'"),
    ("J/degC", OffsetUnitError, "'degC'"),
    ("°F*s", OffsetUnitError, "'°F'"),
    ("kg*celsius", OffsetUnitError, "'celsius'"),
    ("(degC)^1", OffsetUnitError, "'degC'"),
    ("1/degF", OffsetUnitError, "'degF'"),
    ("mdegC", UnknownUnitError, "'mdegC'"),  # offset units take no prefixes
    # syntax
    ("m2", UnitSyntaxError, "'m^2'"),
    ("kg m2", UnitSyntaxError, "'m^2'"),
    ("2 m", UnitSyntaxError, "'2'"),
    ("1e3 m", UnitSyntaxError, "'1e3'"),
    ("0.5*m", UnitSyntaxError, "'0.5'"),
    # decimal exponents: only halves, quarters and thirds (3+ places); the fraction shown
    ("m^2.3", UnitSyntaxError, "'^(23/10)'"),
    ("m^0.3", UnitSyntaxError, "'^(3/10)'"),
    ("Hz^-0.2", UnitSyntaxError, "'^(-1/5)'"),
    ("m^0.33", UnitSyntaxError, "'^(33/100)'"),  # a third needs 3 places
    ("m^0.334", UnitSyntaxError, "'^(167/500)'"),  # neither 0.333 nor 0.334 cut from 1/3
    ("m^(0.3/2)", UnitSyntaxError, "'^(3/10)'"),
    ("m^1.5e1", UnitSyntaxError, "'1.5e1'"),
    ("m^0.123456789", UnitLimitError, "'0.123456789'"),
    ("m^12.5", UnitLimitError, "25/2"),
    # digits join a name only for declared spellings (g0)
    ("g1", UnitSyntaxError, "'g^1'"),
    ("s0", UnitSyntaxError, "'s^0'"),
    # logarithmic units: refused with the reason
    ("dB", LogarithmicUnitError, "logarithmic"),
    ("Np", LogarithmicUnitError, "'Np'"),
    ("dBm", LogarithmicUnitError, "'dBm'"),
    ("neper", LogarithmicUnitError, "linear quantity"),
    ("dB/m", LogarithmicUnitError, "'dB'"),
    ("m^2^3", UnitSyntaxError, "'^'"),
    ("m²x", UnitSyntaxError, "'x'"),
    ("m)", UnitSyntaxError, "')'"),
    ("(m", UnitSyntaxError, "'('"),
    ("((m)", UnitSyntaxError, "'('"),
    ("m/", UnitSyntaxError, "end of text"),
    ("*m", UnitSyntaxError, "'*'"),
    ("m//s", UnitSyntaxError, "'/'"),
    ("m^", UnitSyntaxError, "end of text"),
    ("m^-", UnitSyntaxError, "end of text"),
    ("m^(1/2", UnitSyntaxError, "end of text"),
    ("m^(1/0)", UnitSyntaxError, "'0'"),
    ("m(s)", UnitSyntaxError, "'('"),
    ("W/m^2 K", UnitSyntaxError, "'K'"),
    ("m s / kg s", UnitSyntaxError, "'s'"),
    ("m $", UnitSyntaxError, "'$'"),
    ("m;s", UnitSyntaxError, "';'"),
    ("m.s", UnitSyntaxError, "'.'"),
    ("m\ts", UnitSyntaxError, "U+0009"),
    ("m\x00", UnitSyntaxError, "U+0000"),
    ("m\u200bs", UnitSyntaxError, "U+200B"),  # zero-width space
    ("s⁻", UnitSyntaxError, "'⁻'"),
    ("-m", UnitSyntaxError, "'-'"),
    ("m-s", UnitSyntaxError, "trailing text"),
    ("", UnitSyntaxError, "empty"),
    ("   ", UnitSyntaxError, "empty"),
    # limits
    ("m^13", UnitLimitError, "13"),
    ("m^-13", UnitLimitError, "-13"),
    ("m^(1/13)", UnitLimitError, "1/13"),
    ("m^1000", UnitLimitError, "'1000'"),
    ("(m^12)^12", UnitLimitError, "144"),
    ("((((((((((m))))))))))", UnitLimitError, "deeper than 8"),
    ("m" + "*m" * 60, UnitLimitError, "100 tokens"),
    ("m" * 300, UnitLimitError, "300 characters"),
]


@pytest.mark.parametrize(
    ("expression", "error", "part"), REFUSED, ids=[repr(r[0])[:30] for r in REFUSED]
)
def test_refused(expression: str, error: type[UnitError], part: str) -> None:
    with pytest.raises(error) as info:
        parse_unit(expression)
    assert type(info.value) is error
    assert part in info.value.message
    assert isinstance(info.value, ValueError)


def test_enough_refusals() -> None:
    assert len(REFUSED) >= 40


def test_unknown_symbol_suggests() -> None:
    with pytest.raises(UnknownUnitError) as info:
        parse_unit("kmh/s")
    assert "did you mean 'km/h'" in info.value.message
    assert info.value.details == {
        "expression": "kmh/s",
        "symbol": "kmh",
        "position": 0,
        "suggestions": ["km/h"],
    }


def test_case_only_difference_is_suggested() -> None:
    with pytest.raises(UnknownUnitError) as info:
        parse_unit("hz")
    assert info.value.details["suggestions"][0] == "Hz"


def test_position_points_into_the_stripped_text() -> None:
    with pytest.raises(UnknownUnitError) as info:
        parse_unit("  kg*frob ")
    assert info.value.details["position"] == 3
    assert "'kg*frob'" in info.value.message


def test_offset_refusal_names_the_interval_unit() -> None:
    with pytest.raises(OffsetUnitError) as info:
        parse_unit("W/(m*degF)")
    assert "delta_degF" in info.value.message
    assert info.value.details["suggestions"] == ["delta_degF", "K"]


def test_ambiguity_lists_readings() -> None:
    with pytest.raises(AmbiguousUnitError) as info:
        parse_unit("kt")
    assert info.value.details["suggestions"] == ["kilotonne", "knot"]


def test_max_length_is_the_callers() -> None:
    assert parse_unit("m/s", max_length=3).scale == 1.0
    with pytest.raises(UnitLimitError):
        parse_unit("m/s", max_length=2)


def test_non_text_is_refused_as_unit_error() -> None:
    with pytest.raises(UnitSyntaxError, match="received int"):
        parse_unit(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_errors_survive_pickle(protocol: int) -> None:
    with pytest.raises(UnknownUnitError) as info:
        parse_unit("kmh")
    clone = pickle.loads(pickle.dumps(info.value, protocol=protocol))  # noqa: S301 - our own bytes
    assert type(clone) is UnknownUnitError
    assert clone.details == info.value.details
    assert str(clone) == str(info.value)
