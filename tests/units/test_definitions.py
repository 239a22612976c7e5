"""The data file: it loads, every line is well-formed, and the loader rejects bad lines."""

from __future__ import annotations

from fractions import Fraction
from importlib import resources

import pytest

from service.errors import UnitError
from service.units import parse_unit, registry
from service.units._definitions import DefinitionError, read_definitions
from service.units._registry import load_registry

TEXT = resources.files("service.units").joinpath("definitions.txt").read_text("utf-8")

TINY = """
# a tiny table, as pint's registry_tiny
#### PREFIXES ####
kilo- = 1e3 = k-
milli- = 1e-3 = m-
#### UNITS ####
meter = [length] = m ; prefixes
second = [time] = s
minute = 60 s = min
inch = 0.0254 m = in ; prefixes
ohm = m/s = Ω ; prefixes
standard_gravity = 9.8 m/s^2 = g0
degree_Celsius = [temperature] = degC ; offset: 273.15 ; interval: delta_degC
#### AMBIGUOUS ####
mm = millimeter | minute
#### HINTS ####
kmh = km/s
#### LOGARITHMIC ####
dB Np = logarithmic
"""


def test_default_file_loads_with_sections_in_order() -> None:
    definitions = read_definitions(TEXT)
    assert len(definitions.prefixes) == 24
    assert len(definitions.units) >= 80
    assert [a.symbol for a in definitions.ambiguities] == ["kt", "ton", "mil", "PS"]
    assert {s for r in definitions.refusals for s in r.symbols} >= {"dB", "Np", "neper"}


def test_every_prefix_has_an_si_factor() -> None:
    factors = sorted(p.factor for p in read_definitions(TEXT).prefixes)
    exponents = [-30, -27, -24, -21, -18, -15, -12, -9, -6, -3, -2, -1]
    exponents += [1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert factors == sorted(Fraction(10) ** e for e in exponents)  # exact, not rounded


def test_micro_has_three_spellings() -> None:
    micro = next(p for p in read_definitions(TEXT).prefixes if p.name == "micro")
    assert micro.symbols == ("\u00b5", "\u03bc", "u")


def test_no_spelling_is_defined_twice() -> None:
    # The registry raises DefinitionError on a duplicate; loading is the check. Also
    # no two prefixed readings collide (the automatic ambiguity list is empty).
    reg = registry()
    assert reg.prefixed_collisions == {}
    assert not set(reg.exact) & set(reg.prefixed)  # no exact spelling is also prefixed
    names = [u.name for _, u in read_definitions(TEXT).units]
    assert len(names) == len(set(names))


def test_ambiguity_readings_and_hints_are_valid_expressions() -> None:
    reg = registry()
    for readings in reg.ambiguous.values():
        for reading in readings:
            parse_unit(reading)
    for expression in reg.hints.values():
        parse_unit(expression)
    for symbol in reg.ambiguous:
        with pytest.raises(UnitError):
            parse_unit(symbol)
    for text in reg.hints:
        with pytest.raises(UnitError):
            parse_unit(text)


def test_hints_are_not_units() -> None:
    reg = registry()
    assert not set(reg.hints) & set(reg.spellings())


def test_tiny_registry() -> None:
    reg = load_registry(TINY, "tiny.txt")
    assert reg.lookup("km") is not None
    assert reg.lookup("ks") is None  # second takes no prefixes here
    assert reg.exact["min"].term.scale == 60.0
    entry = reg.lookup("min")  # exact wins over milli-inch
    assert entry is not None
    assert entry.name == "minute"
    assert reg.prefixed["min"].name == "milliinch"
    assert reg.exact["degC"].term.offset == Fraction(27315, 100)  # exact
    assert reg.ambiguous["mm"] == ("millimeter", "minute")
    assert reg.suggestions("kmh") == ["km/s"]
    assert reg.refused == {"dB": "logarithmic", "Np": "logarithmic"}
    assert reg.glued == frozenset({"g0"})


@pytest.mark.parametrize(
    ("spelling", "meaning"),
    [
        ("kΩ", "kiloohm"),  # prefix symbol on the symbol
        ("kiloohm", "kiloohm"),  # long prefix on the name
        ("kohm", "kiloohm"),  # prefix symbol on the name, as pint reads it
        ("mohms", "milliohm"),  # ... and on its plural
        ("kmeter", "kilometer"),
        ("g0", "standard_gravity"),  # digits join a declared name
    ],
)
def test_spellings_of_the_tiny_table(spelling: str, meaning: str) -> None:
    entry = load_registry(TINY, "tiny.txt").lookup(spelling)
    assert entry is not None
    assert entry.name == meaning


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("kilo- = 1e3", "expected '<name>- = <factor> = <symbol>-'"),
        ("kilo- = -5 = k-", "prefix factor must be > 0"),
        ("kilo = 1e3 = k", "prefix names end with '-'"),
    ],
)
def test_bad_prefix_lines(line: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        read_definitions(f"#### PREFIXES ####\n{line}\n", "bad.txt")
    assert info.value.line == 2
    assert str(info.value).startswith("bad.txt line 2:")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("meter", "expected '<name> = <definition>"),
        ("meter = [length] = m ; colour: red", "unknown option 'colour'"),
        ("meter = [length] = m ; prefixes ; prefixes", "given twice"),
        ("met er = [length]", "not a valid unit name"),
        ("meter =  = m", "empty definition"),
        ("meter = [length] = m2x", "not a valid unit name"),
        ("degC = [temperature] ; offset: 273.15", "needs 'interval"),
        ("degC = K ; offset: 1 ; interval: dK ; prefixes", "take no prefixes"),
    ],
)
def test_bad_unit_lines(line: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        read_definitions(f"#### UNITS ####\n\n{line}\n")
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ("meter = [length] = m\nmetre = [length] = m", "duplicate spelling 'm'"),
        ("meter = [length] = m\nfoot = 0.3048 yd", "unknown unit symbol 'yd'"),
        ("meter = [length] = m\nfoot = 0.3048 m m2", "did you mean 'm\\^2'"),
        ("meter = [lenght] = m", "expected a unit symbol"),
    ],
)
def test_bad_definitions_name_their_line(units: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        load_registry(f"#### UNITS ####\n{units}\n")
    assert info.value.line == units.count("\n") + 2


def test_unknown_section_and_orphan_lines() -> None:
    with pytest.raises(DefinitionError, match="unknown section 'CONSTANTS'"):
        read_definitions("#### CONSTANTS ####\n")
    with pytest.raises(DefinitionError, match="before any section"):
        read_definitions("meter = [length]\n")
