"""The grammar table: expressions the grammar accepts, with exact expected values.

Factors are exact literals from the definitions (SI Brochure 9th ed., NIST SP 811
appendix B, IAU 2012/2015, CODATA 2022 for the dalton), written as Fractions so that
the expected side carries no rounding; ``math.pi`` is the only float.
Shared by test_grammar_table, test_against_pint and test_properties.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple


def d(**exps: int | float) -> dict[str, int | float]:
    return exps


NONE = d()
LEN, MASS, TIME = d(length=1), d(mass=1), d(time=1)
CURRENT, TEMP, AMOUNT, LUM = d(current=1), d(temperature=1), d(amount=1), d(luminosity=1)
AREA, VOLUME = d(length=2), d(length=3)
FREQ = d(time=-1)
VEL, ACC = d(length=1, time=-1), d(length=1, time=-2)
FORCE = d(mass=1, length=1, time=-2)
PRESSURE = d(mass=1, length=-1, time=-2)
ENERGY = d(mass=1, length=2, time=-2)
POWER = d(mass=1, length=2, time=-3)
CHARGE = d(time=1, current=1)
VOLT = d(mass=1, length=2, time=-3, current=-1)
OHM = d(mass=1, length=2, time=-3, current=-2)
FARAD = d(mass=-1, length=-2, time=4, current=2)
SIEMENS = d(mass=-1, length=-2, time=3, current=2)
WEBER = d(mass=1, length=2, time=-2, current=-1)
TESLA = d(mass=1, time=-2, current=-1)
HENRY = d(mass=1, length=2, time=-2, current=-2)
LUX = d(luminosity=1, length=-2)
DOSE = d(length=2, time=-2)
KATAL = d(amount=1, time=-1)
MOLAR = d(amount=1, length=-3)

# Exact definitions (NIST SP 811 B.8 / SI Brochure table 8)
IN = Fraction(254, 10_000)
FT = 12 * IN
YD = 3 * FT
MI = 1760 * YD
NMI = Fraction(1852)
LB = Fraction(45_359_237, 10**8)
OZ = LB / 16
G0 = Fraction(980_665, 10**5)
LBF = LB * G0
ATM = Fraction(101_325)
MIN, HOUR, DAY = Fraction(60), Fraction(3600), Fraction(86_400)
YEAR = Fraction(36525, 100) * DAY
C = Fraction(299_792_458)
AU = Fraction(149_597_870_700)
EV = Fraction(1_602_176_634, 10**28)
DA = Fraction(166_053_906_892, 10**38)
CAL = Fraction(4184, 1000)
GAL = 231 * IN**3
DEG = math.pi / 180
TURN = 2 * math.pi


class Row(NamedTuple):
    expression: str
    dims: dict[str, int | float]
    factor: Fraction | float | int


TABLE: list[Row] = [
    # --- SI base units, symbols and names ---
    Row("m", LEN, 1),
    Row("kg", MASS, 1),
    Row("g", MASS, Fraction(1, 1000)),
    Row("s", TIME, 1),
    Row("A", CURRENT, 1),
    Row("K", TEMP, 1),
    Row("mol", AMOUNT, 1),
    Row("cd", LUM, 1),
    Row("meter", LEN, 1),
    Row("metre", LEN, 1),
    Row("kilogram", MASS, 1),
    Row("gram", MASS, Fraction(1, 1000)),
    Row("second", TIME, 1),
    Row("ampere", CURRENT, 1),
    Row("kelvin", TEMP, 1),
    Row("mole", AMOUNT, 1),
    Row("candela", LUM, 1),
    # --- SI derived units with special names ---
    Row("rad", NONE, 1),
    Row("sr", NONE, 1),
    Row("Hz", FREQ, 1),
    Row("N", FORCE, 1),
    Row("Pa", PRESSURE, 1),
    Row("J", ENERGY, 1),
    Row("W", POWER, 1),
    Row("C", CHARGE, 1),
    Row("V", VOLT, 1),
    Row("F", FARAD, 1),
    Row("Ω", OHM, 1),
    Row("\u2126", OHM, 1),  # OHM SIGN
    Row("ohm", OHM, 1),
    Row("S", SIEMENS, 1),
    Row("Wb", WEBER, 1),
    Row("T", TESLA, 1),
    Row("H", HENRY, 1),
    Row("lm", LUM, 1),
    Row("lx", LUX, 1),
    Row("Bq", FREQ, 1),
    Row("Gy", DOSE, 1),
    Row("Sv", DOSE, 1),
    Row("kat", KATAL, 1),
    Row("newton", FORCE, 1),
    Row("pascal", PRESSURE, 1),
    Row("joules", ENERGY, 1),
    Row("watts", POWER, 1),
    Row("henries", HENRY, 1),
    Row("siemens", SIEMENS, 1),
    Row("lux", LUX, 1),
    # --- every SI prefix, on the metre ---
    Row("qm", LEN, Fraction(1, 10**30)),
    Row("rm", LEN, Fraction(1, 10**27)),
    Row("ym", LEN, Fraction(1, 10**24)),
    Row("zm", LEN, Fraction(1, 10**21)),
    Row("am", LEN, Fraction(1, 10**18)),
    Row("fm", LEN, Fraction(1, 10**15)),
    Row("pm", LEN, Fraction(1, 10**12)),
    Row("nm", LEN, Fraction(1, 10**9)),
    Row("\u00b5m", LEN, Fraction(1, 10**6)),  # MICRO SIGN
    Row("\u03bcm", LEN, Fraction(1, 10**6)),  # GREEK SMALL LETTER MU
    Row("um", LEN, Fraction(1, 10**6)),
    Row("mm", LEN, Fraction(1, 1000)),
    Row("cm", LEN, Fraction(1, 100)),
    Row("dm", LEN, Fraction(1, 10)),
    Row("dam", LEN, 10),
    Row("hm", LEN, 100),
    Row("km", LEN, 1000),
    Row("Mm", LEN, 10**6),
    Row("Gm", LEN, 10**9),
    Row("Tm", LEN, 10**12),
    Row("Pm", LEN, 10**15),
    Row("Em", LEN, 10**18),
    Row("Zm", LEN, 10**21),
    Row("Ym", LEN, 10**24),
    Row("Rm", LEN, 10**27),
    Row("Qm", LEN, 10**30),
    # --- prefixes on other units; long prefixes on names ---
    Row("mg", MASS, Fraction(1, 10**6)),
    Row("\u00b5g", MASS, Fraction(1, 10**9)),
    Row("ms", TIME, Fraction(1, 1000)),
    Row("us", TIME, Fraction(1, 10**6)),
    Row("\u03bcs", TIME, Fraction(1, 10**6)),
    Row("ns", TIME, Fraction(1, 10**9)),
    Row("mA", CURRENT, Fraction(1, 1000)),
    Row("mK", TEMP, Fraction(1, 1000)),
    Row("mmol", AMOUNT, Fraction(1, 1000)),
    Row("kHz", FREQ, 1000),
    Row("GHz", FREQ, 10**9),
    Row("kN", FORCE, 1000),
    Row("hPa", PRESSURE, 100),
    Row("kPa", PRESSURE, 1000),
    Row("MPa", PRESSURE, 10**6),
    Row("kJ", ENERGY, 1000),
    Row("MW", POWER, 10**6),
    Row("mV", VOLT, Fraction(1, 1000)),
    Row("kΩ", OHM, 1000),
    Row("k\u2126", OHM, 1000),
    Row("MΩ", OHM, 10**6),
    Row("pF", FARAD, Fraction(1, 10**12)),
    Row("mT", TESLA, Fraction(1, 1000)),
    Row("mcd", LUM, Fraction(1, 1000)),
    Row("kilometer", LEN, 1000),
    Row("kilometres", LEN, 1000),
    Row("millisecond", TIME, Fraction(1, 1000)),
    Row("microseconds", TIME, Fraction(1, 10**6)),
    Row("megawatt", POWER, 10**6),
    Row("milligram", MASS, Fraction(1, 10**6)),
    Row("nanometers", LEN, Fraction(1, 10**9)),
    # --- exact symbol wins over a prefixed reading ---
    Row("min", TIME, MIN),
    Row("ft", LEN, FT),
    # --- time ---
    Row("minute", TIME, MIN),
    Row("minutes", TIME, MIN),
    Row("h", TIME, HOUR),
    Row("hr", TIME, HOUR),
    Row("hours", TIME, HOUR),
    Row("d", TIME, DAY),
    Row("day", TIME, DAY),
    Row("week", TIME, 7 * DAY),
    Row("a", TIME, YEAR),
    Row("yr", TIME, YEAR),
    Row("year", TIME, YEAR),
    Row("Ma", TIME, 10**6 * YEAR),
    Row("Ga", TIME, 10**9 * YEAR),
    # --- length, area, volume ---
    Row("Å", LEN, Fraction(1, 10**10)),
    Row("\u212b", LEN, Fraction(1, 10**10)),  # ANGSTROM SIGN
    Row("angstrom", LEN, Fraction(1, 10**10)),
    Row("micron", LEN, Fraction(1, 10**6)),
    Row("in", LEN, IN),
    Row("inch", LEN, IN),
    Row("inches", LEN, IN),
    Row("foot", LEN, FT),
    Row("feet", LEN, FT),
    Row("yd", LEN, YD),
    Row("mi", LEN, MI),
    Row("mile", LEN, MI),
    Row("nmi", LEN, NMI),
    Row("au", LEN, AU),
    Row("AU", LEN, AU),
    Row("ly", LEN, C * YEAR),
    Row("pc", LEN, float(AU) * 648_000 / math.pi),
    Row("kpc", LEN, float(AU) * 648_000_000 / math.pi),
    Row("Mpc", LEN, float(AU) * 648_000 / math.pi * 1e6),
    Row("thou", LEN, IN / 1000),
    Row("ha", AREA, 10**4),
    Row("b", AREA, Fraction(1, 10**28)),
    Row("L", VOLUME, Fraction(1, 1000)),
    Row("l", VOLUME, Fraction(1, 1000)),
    Row("ℓ", VOLUME, Fraction(1, 1000)),
    Row("mL", VOLUME, Fraction(1, 10**6)),
    Row("\u00b5L", VOLUME, Fraction(1, 10**9)),
    Row("liter", VOLUME, Fraction(1, 1000)),
    Row("cc", VOLUME, Fraction(1, 10**6)),
    Row("gal", VOLUME, GAL),
    Row("gallons", VOLUME, GAL),
    # --- mass ---
    Row("t", MASS, 1000),
    Row("tonne", MASS, 1000),
    Row("Mt", MASS, 10**9),
    Row("lb", MASS, LB),
    Row("pound", MASS, LB),
    Row("oz", MASS, OZ),
    Row("Da", MASS, DA),
    Row("kDa", MASS, 1000 * DA),
    Row("u", MASS, DA),
    Row("short_ton", MASS, 2000 * LB),
    # --- speed and rotation ---
    Row("mph", VEL, MI / HOUR),
    Row("kph", VEL, Fraction(1000) / HOUR),
    Row("kn", VEL, NMI / HOUR),
    Row("knot", VEL, NMI / HOUR),
    Row("rpm", FREQ, TURN / 60),
    Row("deg", NONE, DEG),
    Row("°", NONE, DEG),
    Row("degree", NONE, DEG),
    Row("arcmin", NONE, DEG / 60),
    Row("arcsec", NONE, DEG / 3600),
    Row("mrad", NONE, Fraction(1, 1000)),
    Row("turn", NONE, TURN),
    # --- force, pressure, energy, power ---
    Row("lbf", FORCE, LBF),
    Row("kgf", FORCE, G0),
    Row("dyn", FORCE, Fraction(1, 10**5)),
    Row("bar", PRESSURE, 10**5),
    Row("mbar", PRESSURE, 100),
    Row("atm", PRESSURE, ATM),
    Row("Torr", PRESSURE, ATM / 760),
    Row("torr", PRESSURE, ATM / 760),
    Row("mmHg", PRESSURE, Fraction(133_322_387_415, 10**9)),
    Row("psi", PRESSURE, LBF / IN**2),
    Row("eV", ENERGY, EV),
    Row("keV", ENERGY, 1000 * EV),
    Row("MeV", ENERGY, 10**6 * EV),
    Row("erg", ENERGY, Fraction(1, 10**7)),
    Row("cal", ENERGY, CAL),
    Row("kcal", ENERGY, 1000 * CAL),
    Row("Wh", ENERGY, HOUR),
    Row("kWh", ENERGY, 1000 * HOUR),
    Row("kilowatt_hour", ENERGY, 1000 * HOUR),
    Row("hp", POWER, 550 * FT * LBF),
    Row("inHg", PRESSURE, Fraction(254, 10) * Fraction(133_322_387_415, 10**9)),
    Row("ksi", PRESSURE, 1000 * LBF / IN**2),
    Row("kip", FORCE, 1000 * LBF),
    Row("ozf", FORCE, OZ * G0),
    Row("slug", MASS, LBF / FT),
    Row("stone", MASS, 14 * LB),
    Row("BTU", ENERGY, Fraction(1_055_056, 1000)),
    Row("therm", ENERGY, Fraction(105_505_600)),
    Row("mAh", CHARGE, Fraction(36, 10)),
    Row("Ah", CHARGE, HOUR),
    Row("kVA", POWER, 1000),
    Row("mho", SIEMENS, 1),
    Row("acre", AREA, 43_560 * Fraction(1200, 3937) ** 2),
    Row("month", TIME, YEAR / 12),
    Row("century", TIME, 100 * YEAR),
    Row("rps", FREQ, TURN),
    # --- dimensionless ---
    Row("1", NONE, 1),
    Row("dimensionless", NONE, 1),
    Row("%", NONE, Fraction(1, 100)),
    Row("percent", NONE, Fraction(1, 100)),
    Row("‰", NONE, Fraction(1, 1000)),
    Row("ppm", NONE, Fraction(1, 10**6)),
    Row("ppb", NONE, Fraction(1, 10**9)),
    # --- chemistry ---
    Row("M", MOLAR, 1000),
    Row("mM", MOLAR, 1),
    Row("\u00b5M", MOLAR, Fraction(1, 1000)),
    Row("mol/L", MOLAR, 1000),
    # --- temperature intervals (offset-free, compound freely) ---
    Row("delta_degC", TEMP, 1),
    Row("delta_degF", TEMP, Fraction(5, 9)),
    Row("degR", TEMP, Fraction(5, 9)),
    Row("°R", TEMP, Fraction(5, 9)),
    Row("J/K", d(mass=1, length=2, time=-2, temperature=-1), 1),
    Row("J/(kg*K)", d(length=2, time=-2, temperature=-1), 1),
    Row("W/(m*delta_degC)", d(mass=1, length=1, time=-3, temperature=-1), 1),
    Row("delta_degF/s", d(temperature=1, time=-1), Fraction(5, 9)),
    Row("K/s", d(temperature=1, time=-1), 1),
    # --- products: '*', '·', '⋅', '×', spaces ---
    Row("N*m", ENERGY, 1),
    Row("N·m", ENERGY, 1),
    Row("N⋅m", ENERGY, 1),
    Row("N × m", ENERGY, 1),
    Row("N m", ENERGY, 1),
    Row("kg m^2 s^-2", ENERGY, 1),
    Row("kg*m^2/s^2", ENERGY, 1),
    Row("lbf*ft", ENERGY, LBF * FT),
    Row("kW*h", ENERGY, 1000 * HOUR),
    Row("A*h", CHARGE, HOUR),
    Row("mA h", CHARGE, HOUR / 1000),
    # --- quotients, left-associative ---
    Row("m/s", VEL, 1),
    Row("km/h", VEL, Fraction(1000) / HOUR),
    Row("m/s/s", ACC, 1),
    Row("m/s^2", ACC, 1),
    Row("ft/s^2", ACC, FT),
    Row("m/s*kg", d(length=1, time=-1, mass=1), 1),
    Row("J/kg/K", d(length=2, time=-2, temperature=-1), 1),
    Row("1/s", FREQ, 1),
    Row("1/min", FREQ, 1 / MIN),
    Row("mol/(L*s)", d(amount=1, length=-3, time=-1), 1000),
    Row("W/m^2", d(mass=1, time=-3), 1),
    Row("kg/m^3", d(mass=1, length=-3), 1),
    Row("g/cm^3", d(mass=1, length=-3), 1000),
    Row("lb/in^2", d(mass=1, length=-2), LB / IN**2),
    Row("mi/gal", d(length=-2), MI / GAL),
    Row("L/min", d(length=3, time=-1), Fraction(1, 1000) / MIN),
    # --- powers: ^, **, superscripts, negative and rational exponents ---
    Row("m^2", AREA, 1),
    Row("m**3", VOLUME, 1),
    Row("m²", AREA, 1),
    Row("cm³", VOLUME, Fraction(1, 10**6)),
    Row("s⁻¹", FREQ, 1),
    Row("kg·m²·s⁻²", ENERGY, 1),
    Row("m·s⁻²", ACC, 1),
    Row("m^-1", d(length=-1), 1),
    Row("m^+2", AREA, 1),
    Row("s^(-2)", d(time=-2), 1),
    Row("m^(1/2)", d(length=0.5), 1),
    Row("m^(-3/2)", d(length=-1.5), 1),
    Row("km^(1/2)", d(length=0.5), math.sqrt(1000)),
    Row("m¹ᐟ²", d(length=0.5), 1),
    Row("Hz^(1/2)", d(time=-0.5), 1),
    Row("V/Hz^(1/2)", d(mass=1, length=2, time=-2.5, current=-1), 1),
    Row("m^0", NONE, 1),
    Row("ft^3", VOLUME, FT**3),
    Row("in^2", AREA, IN**2),
    # --- parentheses ---
    Row("(m)", LEN, 1),
    Row("(m/s)^2", d(length=2, time=-2), 1),
    Row("((m))", LEN, 1),
    Row("kg/(m*s^2)", PRESSURE, 1),
    Row("(kg*m)/(s^2)", FORCE, 1),
    Row("1/(m*s)", d(length=-1, time=-1), 1),
    Row("(km/h)**2", d(length=2, time=-2), (Fraction(1000) / HOUR) ** 2),
    # --- whitespace around operators ---
    Row("  m / s  ", VEL, 1),
    Row("kg * m ^ 2", d(mass=1, length=2), 1),
    Row("m ** 2", AREA, 1),
    # --- composite real-world units ---
    Row("W/(m^2*K)", d(mass=1, time=-3, temperature=-1), 1),
    Row("Pa*s", d(mass=1, length=-1, time=-1), 1),
    Row("N/m", d(mass=1, time=-2), 1),
    Row("C/kg", d(time=1, current=1, mass=-1), 1),
    Row("V/m", d(mass=1, length=1, time=-3, current=-1), 1),
    Row("A/m^2", d(current=1, length=-2), 1),
    Row("J*s", d(mass=1, length=2, time=-1), 1),
    Row("m^3/(kg*s^2)", d(length=3, mass=-1, time=-2), 1),
    Row("kcal/mol", d(mass=1, length=2, time=-2, amount=-1), 1000 * CAL),
    Row("kJ/mol", d(mass=1, length=2, time=-2, amount=-1), 1000),
    Row("mg/L", d(mass=1, length=-3), Fraction(1, 1000)),
    Row("rad/s", FREQ, 1),
    Row("deg/s", FREQ, DEG),
    Row("lm/W", d(luminosity=1, mass=-1, length=-2, time=3), 1),
    # --- physics and legacy units ---
    Row("c", VEL, C),
    Row("MeV/c^2", MASS, 10**6 * EV / C**2),
    Row("GeV/c", d(mass=1, length=1, time=-1), 10**9 * EV / C),
    Row("lbs", MASS, LB),
    Row("hrs", TIME, HOUR),
    Row("fermi", LEN, Fraction(1, 10**15)),
    Row("P", d(mass=1, length=-1, time=-1), Fraction(1, 10)),
    Row("cP", d(mass=1, length=-1, time=-1), Fraction(1, 1000)),
    Row("St", d(length=2, time=-1), Fraction(1, 10**4)),
    Row("cSt", d(length=2, time=-1), Fraction(1, 10**6)),
    Row("Ci", FREQ, 37 * 10**9),
    Row("mCi", FREQ, 37 * 10**6),
    Row("rem", DOSE, Fraction(1, 100)),
    Row("mrem", DOSE, Fraction(1, 10**5)),
    # --- prefix symbols on spelled-out names, as pint reads them ---
    Row("kohm", OHM, 1000),
    Row("Mohm", OHM, 10**6),
    Row("mohm", OHM, Fraction(1, 1000)),
    Row("kohms", OHM, 1000),
    Row("megaohm", OHM, 10**6),
    Row("kiloohm", OHM, 1000),
    Row("kmeter", LEN, 1000),
    Row("mmeters", LEN, Fraction(1, 1000)),
    Row("kvolt", VOLT, 1000),
    Row("mwatt", POWER, Fraction(1, 1000)),
    Row("kjoule/mol", d(mass=1, length=2, time=-2, amount=-1), 1000),
    # --- decimal exponents that are halves, thirds or quarters ---
    Row("m^0.5", d(length=0.5), 1),
    Row("Hz^-0.5", d(time=0.5), 1),
    Row("s^0.25", d(time=0.25), 1),
    Row("km^1.5", d(length=1.5), 1000**1.5),
    Row("m**0.75", d(length=0.75), 1),
    Row("W/Hz^0.5", d(mass=1, length=2, time=-2.5), 1),
    # --- constants used as units (c is the speed of light above) ---
    Row("hbar", d(mass=1, length=2, time=-1), Fraction(662_607_015, 10**42) / (2 * math.pi)),
    Row("ħ", d(mass=1, length=2, time=-1), Fraction(662_607_015, 10**42) / (2 * math.pi)),
    Row("g0", ACC, G0),
    Row("g_0", ACC, G0),
    Row("kg*g0", FORCE, G0),
    Row("hbar*c", d(mass=1, length=3, time=-2), Fraction(662_607_015, 10**42) * C / (2 * math.pi)),
    # --- Gaussian CGS and atomic units, by their conventional SI equivalents ---
    Row("gauss", TESLA, Fraction(1, 10**4)),
    Row("G", TESLA, Fraction(1, 10**4)),
    Row("mG", TESLA, Fraction(1, 10**7)),
    Row("kG", TESLA, Fraction(1, 10)),
    Row("maxwell", WEBER, Fraction(1, 10**8)),
    Row("Mx", WEBER, Fraction(1, 10**8)),
    Row("oersted", d(current=1, length=-1), 1000 / (4 * math.pi)),
    Row("Oe", d(current=1, length=-1), 1000 / (4 * math.pi)),
    Row("franklin", CHARGE, Fraction(1, 10) / C),
    Row("statC", CHARGE, Fraction(1, 10) / C),
    Row("Fr", CHARGE, Fraction(1, 10) / C),
    Row("debye", d(current=1, time=1, length=1), Fraction(1, 10**21) / C),
    Row("D", d(current=1, time=1, length=1), Fraction(1, 10**21) / C),
]

# Absolute temperatures: (expression, SI value of one degree, offset in K)
TEMPERATURES: list[tuple[str, Fraction, Fraction]] = [
    ("degC", Fraction(1), Fraction(27315, 100)),
    ("°C", Fraction(1), Fraction(27315, 100)),
    ("celsius", Fraction(1), Fraction(27315, 100)),
    ("degree_Celsius", Fraction(1), Fraction(27315, 100)),
    ("(degC)", Fraction(1), Fraction(27315, 100)),
    ("degF", Fraction(5, 9), Fraction(45967, 180)),
    ("°F", Fraction(5, 9), Fraction(45967, 180)),
    ("fahrenheit", Fraction(5, 9), Fraction(45967, 180)),
    ("K", Fraction(1), Fraction(0)),
    ("degR", Fraction(5, 9), Fraction(0)),
]
