"""Our table against dimtensor's own units: every symbol dimtensor defines is accounted for.

dimtensor is the model library, so its Unit objects are the other source of truth for
dimensions. Each of its symbols is in exactly one of two places:

- compared: our parser reads it and must agree with dimtensor's dimension and scale, except
  where KNOWN_DIFFERENCES lists the exact value we use instead (dimtensor rounds some scales);
  the test fails if a listed difference vanishes;
- REFUSED: our parser refuses it, with the error class given there (and why it is not ours).

So a shared unit that stops parsing fails as a comparison, and a refused one that starts
parsing fails as a refusal: nothing is skipped.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, NamedTuple

import pytest

from service.errors import AmbiguousUnitError, UnitError, UnitSyntaxError, UnknownUnitError
from service.units import parse_unit

MODULES = [
    "dimtensor.core.units",
    "dimtensor.domains.astronomy",
    "dimtensor.domains.chemistry",
    "dimtensor.domains.engineering",
    "dimtensor.domains.cgs",
    "dimtensor.domains.imperial",
]

# symbol -> why ours differs (ours is the exact definition)
KNOWN_DIFFERENCES: dict[str, str] = {
    "psi": "dimtensor 6894.757; exact lbf/in² = 6894.757293168361 Pa",
    "Torr": "dimtensor 133.322; exact 101325/760 = 133.32236842105263 Pa",
    "rpm": "dimtensor 1/60 s⁻¹ (cycles); here 2π/60 rad/s, as pint",
    "°C": "dimtensor celsius has no offset; here an absolute temperature (+273.15 K)",
    "°F": "dimtensor fahrenheit is an interval unit; here absolute (+459.67 °R)",
    "L/min": "dimtensor rounds to 1.66666667e-05; exact 1/60000 m³/s",
    "ft·lb": "dimtensor means the torque ft·lbf; here lb is the pound (mass), as pint",
    "in·lb": "as ft·lb",
    "RT": "dimtensor: ton of refrigeration; here R (ronna) + T (tesla), as pint",
    "BTU": "dimtensor the IT Btu 1055.05585262 J; here ISO 31-4 1055.056 J, as pint",
    "BTU/h": "as BTU",
    "BTU/lb": "as BTU",
    "BTU/(h·ft²)": "as BTU",
    "therm": "dimtensor 105505590 J; here 1e5 BTU (ISO), as pint",
    "inHg": "dimtensor rounds to 3386.389; exact 25.4 mmHg (conventional Hg density)",
    "ksi": "dimtensor rounds to 6894757; exact kip/in²",
    "rps": "dimtensor 1 s⁻¹ (cycles); here 2π rad/s, as pint (and as rpm)",
    "D": "dimtensor rounds the debye to 3.33564e-30; exact 1e-21/c C·m, as pint",
}

_CGS_EM = "CGS electromagnetic unit: its dimension depends on the unit system; SI only here"
_BODY = "an astronomical body's constant (dimtensor.domains.astronomy), not a unit here"
_US_VOLUME = "US customary kitchen/liquid volume: not in our table"


class Refusal(NamedTuple):
    """How our parser refuses a dimtensor symbol, and why the symbol is not ours."""

    error: type[UnitError]
    why: str
    quotes: str = ""  # the part the message names, when it is not the whole symbol


# dimtensor symbol -> its refusal here
REFUSED: dict[str, Refusal] = {
    # declared ambiguities (test_refusals lists the readings)
    "PS": Refusal(AmbiguousUnitError, "metric horsepower or petasiemens"),
    "mil": Refusal(AmbiguousUnitError, "thou (dimtensor) or milliradian"),
    "ton": Refusal(AmbiguousUnitError, "tonne, short ton (dimtensor) or long ton"),
    # grammar: a digit right after a symbol is a bare exponent, refused
    "a0": Refusal(UnitSyntaxError, "Bohr radius; '0' after 'a' is a bare exponent", "'0'"),
    # CGS-Gaussian electromagnetism (G, kG, Mx, Oe, statC are read by their conventional
    # SI equivalents, see definitions.txt; the other stat-units are not)
    "statA": Refusal(UnknownUnitError, _CGS_EM),
    "statF": Refusal(UnknownUnitError, _CGS_EM),
    "statH": Refusal(UnknownUnitError, _CGS_EM),
    "statV": Refusal(UnknownUnitError, _CGS_EM),
    "statΩ": Refusal(UnknownUnitError, _CGS_EM),
    # other CGS mechanics
    "Ba": Refusal(UnknownUnitError, "barye (0.1 Pa): CGS, not in our table"),
    "Gal": Refusal(UnknownUnitError, "gal (1 cm/s²): CGS, not in our table"),
    "mGal": Refusal(UnknownUnitError, "milligal: as Gal"),
    # chemistry / atomic
    "E_h": Refusal(UnknownUnitError, "hartree: an atomic unit, not in our table"),
    "ppt": Refusal(UnknownUnitError, "per thousand or per trillion (pint: picopint): not defined"),
    # astronomy
    "L_sun": Refusal(UnknownUnitError, _BODY),
    "M_earth": Refusal(UnknownUnitError, _BODY),
    "M_jup": Refusal(UnknownUnitError, _BODY),
    "M_sun": Refusal(UnknownUnitError, _BODY),
    "R_earth": Refusal(UnknownUnitError, _BODY),
    "R_jup": Refusal(UnknownUnitError, _BODY),
    "R_sun": Refusal(UnknownUnitError, _BODY),
    "mas": Refusal(
        UnknownUnitError, "milliarcsecond: spelled marcsec here ('as' is the attosecond)"
    ),
    "uas": Refusal(UnknownUnitError, "microarcsecond: spelled uarcsec or µarcsec here"),
    # imperial / US customary
    "R": Refusal(UnknownUnitError, "rankine: spelled °R or degR here ('R' alone is not a unit)"),
    "ac": Refusal(UnknownUnitError, "acre: not in our table"),
    "bbl": Refusal(UnknownUnitError, "barrel: several definitions (oil, US, UK), not in our table"),
    "cfm": Refusal(UnknownUnitError, "cubic feet per minute: written ft^3/min here"),
    "gpm": Refusal(UnknownUnitError, "gallons per minute: written gal/min here"),
    "cup": Refusal(UnknownUnitError, _US_VOLUME),
    "fl_oz": Refusal(UnknownUnitError, _US_VOLUME),
    "pt": Refusal(UnknownUnitError, _US_VOLUME),
    "qt": Refusal(UnknownUnitError, _US_VOLUME),
    "tbsp": Refusal(UnknownUnitError, _US_VOLUME),
    "tsp": Refusal(UnknownUnitError, _US_VOLUME),
    "dr": Refusal(UnknownUnitError, "dram: avoirdupois or apothecaries', not in our table"),
    "gr": Refusal(UnknownUnitError, "grain: not in our table"),
    "st": Refusal(UnknownUnitError, "stone: not in our table"),
    "fur": Refusal(UnknownUnitError, "furlong: not in our table"),
    "pdl": Refusal(UnknownUnitError, "poundal: not in our table"),
    "inH2O": Refusal(UnknownUnitError, "inch of water: not in our table", "'inH'"),
}


def _dimtensor_units() -> dict[str, Any]:
    from dimtensor.core.units import Unit

    found: dict[str, Any] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, Unit):
                found.setdefault(value.symbol, value)
    return found


DIMTENSOR = _dimtensor_units()
COMPARED = sorted(set(DIMTENSOR) - set(REFUSED))


def test_the_lists_name_only_dimtensor_symbols() -> None:
    """A listed symbol dimtensor no longer defines is a stale entry: drop it."""
    assert sorted(set(REFUSED) - set(DIMTENSOR)) == []
    assert sorted(set(KNOWN_DIFFERENCES) - set(DIMTENSOR)) == []
    assert sorted(set(KNOWN_DIFFERENCES) & set(REFUSED)) == []


def test_most_dimtensor_symbols_are_ours() -> None:
    assert len(COMPARED) >= 90


@pytest.mark.parametrize("symbol", COMPARED)
def test_agrees_with_dimtensor(symbol: str) -> None:
    ours = parse_unit(symbol)  # a refusal here fails: list it in REFUSED if it is deliberate
    theirs = DIMTENSOR[symbol]
    agrees = (
        ours.dimension == theirs.dimension
        and math.isclose(ours.scale, theirs.scale, rel_tol=1e-9)
        and ours.offset == 0.0
    )
    if symbol in KNOWN_DIFFERENCES:
        assert not agrees, f"{symbol!r} now agrees: drop it from KNOWN_DIFFERENCES"
    else:
        assert agrees, (symbol, ours, theirs.dimension, theirs.scale)


@pytest.mark.parametrize("symbol", sorted(REFUSED))
def test_refused_as_listed(symbol: str) -> None:
    refusal = REFUSED[symbol]
    with pytest.raises(UnitError) as raised:
        parse_unit(symbol)
    assert type(raised.value) is refusal.error, raised.value
    assert (refusal.quotes or repr(symbol)) in str(raised.value)  # names what it could not read
