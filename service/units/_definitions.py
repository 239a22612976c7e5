"""Reader of ``definitions.txt`` into frozen, self-validating definitions.

The file format is described in the file's own header. Reading is split from
evaluation (``_registry``): here each line becomes a dataclass that checks its own
shape in ``__post_init__``; a bad line raises DefinitionError naming the file and line,
so a broken table fails at import, loudly, and never at a client's request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from ._tokens import is_name

__all__ = [
    "AmbiguityDefinition",
    "DefinitionError",
    "DefinitionSet",
    "HintDefinition",
    "PrefixDefinition",
    "RefusalDefinition",
    "UnitDefinition",
    "read_definitions",
]

SECTIONS = ("PREFIXES", "UNITS", "AMBIGUOUS", "HINTS", "LOGARITHMIC")


class DefinitionError(ValueError):
    """A malformed line of the definitions file (a bug in our data, not in a request)."""

    def __init__(self, message: str, *, source: str = "definitions.txt", line: int = 0) -> None:
        super().__init__(f"{source} line {line}: {message}")
        self.source = source
        self.line = line


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, slots=True)
class PrefixDefinition:
    """``kilo- = 1e3 = k-``: a long name, an exact factor and one or more symbols."""

    name: str
    factor: Fraction  # exact: unit scales are products of exact rationals, rounded once
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        _require(is_name(self.name), f"prefix name {self.name!r} is not a word")
        _require(math.isfinite(self.factor) and self.factor > 0, "prefix factor must be > 0")
        _require(len(self.symbols) > 0, f"prefix {self.name!r} has no symbol")
        for symbol in self.symbols:
            _require(is_name(symbol), f"prefix symbol {symbol!r} is not a word")


@dataclass(frozen=True, slots=True)
class UnitDefinition:
    """One unit line: names, the defining expression and the options after ';'."""

    name: str
    definition: str
    symbol: str | None
    aliases: tuple[str, ...] = ()
    all_prefixes: bool = False
    prefix_symbols: tuple[str, ...] = ()
    plural: str | None = None
    offset: str | None = None
    interval: str | None = None

    def __post_init__(self) -> None:
        for text in (self.name, self.symbol, *self.aliases, self.plural, self.interval):
            _require(text is None or is_name(text), f"{text!r} is not a valid unit name")
        _require(bool(self.definition.strip()), f"unit {self.name!r} has an empty definition")
        _require(
            not (self.all_prefixes and self.prefix_symbols),
            "use either 'prefixes' or 'prefixes: <symbols>', not both",
        )
        _require(
            (self.offset is None) == (self.interval is None),
            "an offset unit needs 'interval: <unit>' and only offset units have one",
        )
        _require(
            self.offset is None or not (self.all_prefixes or self.prefix_symbols),
            "offset units take no prefixes",
        )

    @property
    def takes_prefixes(self) -> bool:
        return self.all_prefixes or bool(self.prefix_symbols)


@dataclass(frozen=True, slots=True)
class AmbiguityDefinition:
    """``kt = kilotonne | knot``: a symbol refused, with the readings it could have."""

    symbol: str
    readings: tuple[str, ...]

    def __post_init__(self) -> None:
        _require(is_name(self.symbol), f"{self.symbol!r} is not a valid unit name")
        _require(len(self.readings) >= 2, "an ambiguity needs at least two readings")


@dataclass(frozen=True, slots=True)
class HintDefinition:
    """``kmh = km/h``: a misspelling and the expression to suggest for it.

    A two-word hint (``deg C = degC``) is refused where it appears: read literally it
    would be a silent product (degree times coulomb).
    """

    text: str
    expression: str

    def __post_init__(self) -> None:
        words = self.text.split(" ")
        _require(len(words) <= 2, "a hint is one word or two words joined by one space")
        _require(all(is_name(w) for w in words), f"{self.text!r} is not made of unit names")
        _require(bool(self.expression), "a hint needs an expression")


@dataclass(frozen=True, slots=True)
class RefusalDefinition:
    """``dB Np = <why>``: logarithmic units pint reads, refused on purpose, with the
    reason the refusal gives (a client learns why, not just "unknown")."""

    symbols: tuple[str, ...]
    reason: str

    def __post_init__(self) -> None:
        _require(len(self.symbols) > 0, "a refusal names at least one spelling")
        for symbol in self.symbols:
            _require(is_name(symbol), f"{symbol!r} is not a valid unit name")
        _require(bool(self.reason), "a refusal needs its reason")


@dataclass(frozen=True, slots=True)
class DefinitionSet:
    prefixes: tuple[PrefixDefinition, ...]
    units: tuple[tuple[int, UnitDefinition], ...]  # (line number, definition)
    ambiguities: tuple[AmbiguityDefinition, ...]
    hints: tuple[HintDefinition, ...]
    refusals: tuple[RefusalDefinition, ...] = ()


def _fields(line: str) -> list[str]:
    return [part.strip() for part in line.split("=")]


def _prefix(line: str) -> PrefixDefinition:
    parts = _fields(line)
    _require(len(parts) >= 3, "expected '<name>- = <factor> = <symbol>-'")
    _require(all(p.endswith("-") for p in parts[:1] + parts[2:]), "prefix names end with '-'")
    try:
        factor = Fraction(parts[1])
    except ValueError:
        raise ValueError(f"prefix factor {parts[1]!r} is not a number") from None
    return PrefixDefinition(parts[0][:-1], factor, tuple(p[:-1] for p in parts[2:]))


def _unit(line: str) -> UnitDefinition:
    head, *options = (part.strip() for part in line.split(";"))
    parts = _fields(head)
    _require(len(parts) >= 2, "expected '<name> = <definition> [= <symbol>] ...'")
    name, definition, *names = parts
    _require("" not in names, "empty name between '='")
    symbol = names[0] if names and names[0] != "_" else None
    values: dict[str, str] = {}
    for option in options:
        key, _, value = (s.strip() for s in option.partition(":"))
        _require(key in ("prefixes", "plural", "offset", "interval"), f"unknown option {key!r}")
        _require(key not in values, f"option {key!r} given twice")
        values[key] = value
    prefixes = values.get("prefixes")
    return UnitDefinition(
        name=name,
        definition=definition,
        symbol=symbol,
        aliases=tuple(names[1:]),
        all_prefixes=prefixes == "",
        prefix_symbols=tuple(prefixes.split()) if prefixes else (),
        plural=values.get("plural"),
        offset=values.get("offset"),
        interval=values.get("interval"),
    )


def _ambiguity(line: str) -> AmbiguityDefinition:
    symbol, sep, readings = line.partition("=")
    _require(bool(sep), "expected '<symbol> = <reading> | <reading>'")
    return AmbiguityDefinition(symbol.strip(), tuple(r.strip() for r in readings.split("|")))


def _hint(line: str) -> HintDefinition:
    text, sep, expression = line.partition("=")
    _require(bool(sep), "expected '<text> = <expression>'")
    return HintDefinition(text.strip(), expression.strip())


def _refusal(line: str) -> RefusalDefinition:
    symbols, sep, reason = line.partition("=")
    _require(bool(sep), "expected '<spelling> [<spelling> ...] = <reason>'")
    return RefusalDefinition(tuple(symbols.split()), reason.strip())


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if raw.lstrip().startswith("####") else raw.partition("#")[0]
        if line.strip():
            yield number, line.strip()


def read_definitions(text: str, source: str = "definitions.txt") -> DefinitionSet:
    """Read the whole file; DefinitionError names the first bad line."""
    section = ""
    prefixes: list[PrefixDefinition] = []
    units: list[tuple[int, UnitDefinition]] = []
    ambiguities: list[AmbiguityDefinition] = []
    hints: list[HintDefinition] = []
    refusals: list[RefusalDefinition] = []
    readers: dict[str, Callable[[str], object]] = {
        "PREFIXES": _prefix,
        "UNITS": _unit,
        "AMBIGUOUS": _ambiguity,
        "HINTS": _hint,
        "LOGARITHMIC": _refusal,
    }
    for number, line in _lines(text):
        if line.startswith("####"):
            section = line.strip("# ").strip()
            if section not in SECTIONS:
                raise DefinitionError(f"unknown section {section!r}", source=source, line=number)
            continue
        if not section:
            raise DefinitionError("definition before any section", source=source, line=number)
        try:
            item = readers[section](line)
        except ValueError as exc:
            raise DefinitionError(str(exc), source=source, line=number) from exc
        if isinstance(item, PrefixDefinition):
            prefixes.append(item)
        elif isinstance(item, UnitDefinition):
            units.append((number, item))
        elif isinstance(item, AmbiguityDefinition):
            ambiguities.append(item)
        elif isinstance(item, HintDefinition):
            hints.append(item)
        elif isinstance(item, RefusalDefinition):
            refusals.append(item)
    return DefinitionSet(
        tuple(prefixes), tuple(units), tuple(ambiguities), tuple(hints), tuple(refusals)
    )
