"""The symbol table: every accepted spelling of every unit, built once from the data file.

Each unit line is evaluated with the same parser that reads client text (in data mode,
over the units defined above it), then registered under its symbol, names and plural,
and under every prefixed spelling it accepts. Lookups are plain dictionary reads: a
client's word is compared with keys, never evaluated, imported or passed to getattr.

Lookup order (also in the data file header): refused on purpose (logarithmic units),
declared ambiguity, exact spelling, unique prefixed spelling. Two units reachable by the
same prefixed spelling make it ambiguous automatically (``prefixed_collisions`` lists
them; the tests pin the list).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources

from service.errors import AmbiguousUnitError, LogarithmicUnitError, UnknownUnitError

from ._definitions import DefinitionError, DefinitionSet, UnitDefinition, read_definitions
from ._parser import Term, parse_expression
from ._tokens import DIGITS, Token

__all__ = ["Registry", "UnitEntry", "default_registry", "load_registry"]


@dataclass(frozen=True, slots=True)
class UnitEntry:
    """What one spelling means: the canonical long name and its evaluated Term."""

    name: str
    term: Term


def _is_word(alias: str) -> bool:
    """Lower-case ASCII words of 4+ letters are names (take long prefixes), not symbols."""
    return len(alias) >= 4 and all("a" <= c <= "z" or c == "_" for c in alias)


class Registry:
    """Spelling -> UnitEntry, with the refusal rules of the grammar."""

    def __init__(self, definitions: DefinitionSet, source: str = "definitions.txt") -> None:
        self.exact: dict[str, UnitEntry] = {}
        self.prefixed: dict[str, UnitEntry] = {}
        self.prefixed_collisions: dict[str, tuple[str, ...]] = {}
        self.ambiguous: dict[str, tuple[str, ...]] = {}
        self.hints: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self._glued: frozenset[str] = frozenset()
        self._lower: dict[str, list[str]] = {}
        self._names: list[str] = []
        self._prefixes = definitions.prefixes
        for line, unit in definitions.units:
            try:
                self._add_unit(unit)
            except ValueError as exc:  # UnitError and DefinitionError included
                raise DefinitionError(str(exc), source=source, line=line) from exc
        for amb in definitions.ambiguities:
            self.ambiguous[amb.symbol] = amb.readings
        for hint in definitions.hints:
            self.hints[hint.text] = hint.expression
        for refusal in definitions.refusals:
            for symbol in refusal.symbols:
                self.refused[symbol] = refusal.reason
        for key in (*self.exact, *self.prefixed):
            self._lower.setdefault(key.lower(), []).append(key)
        self._names = sorted(self.exact)

    # -- building ------------------------------------------------------------------------
    def _add_unit(self, unit: UnitDefinition) -> None:
        term = parse_expression(unit.definition, self, data_mode=True)
        if unit.offset is not None:
            offset = parse_expression(unit.offset, self, data_mode=True)
            if any(offset.exponents):
                raise ValueError(f"offset of {unit.name!r} must be a plain number")
            term = Term(term.exponents, term.scale, offset.scale, None, unit.interval)
        symbols = [unit.symbol] if unit.symbol is not None else []
        symbols += [a for a in unit.aliases if not _is_word(a)]
        words = [unit.name, *(a for a in unit.aliases if _is_word(a))]
        plurals = [w + "s" for w in words if w[-1] not in "sxz"]
        words += [unit.plural] if unit.plural is not None else plurals
        for spelling in dict.fromkeys((*symbols, *words)):  # 'bar' is name and symbol
            entry_term = term
            if unit.offset is not None:
                entry_term = Term(term.exponents, term.scale, term.offset, spelling, unit.interval)
            self._register(self.exact, spelling, UnitEntry(unit.name, entry_term))
        if unit.takes_prefixes:
            self._add_prefixed(unit, term, symbols, words)

    def _add_prefixed(
        self, unit: UnitDefinition, term: Term, symbols: list[str], words: list[str]
    ) -> None:
        for prefix in self._prefixes:
            if not unit.all_prefixes and not set(prefix.symbols) & set(unit.prefix_symbols):
                continue
            scaled = Term(term.exponents, term.scale * prefix.factor)
            entry = UnitEntry(prefix.name + unit.name, scaled)
            spellings = [p + s for p in prefix.symbols for s in symbols]
            spellings += [prefix.name + w for w in words]
            # pint's reading of a prefix symbol on a spelled-out name: kohm, Mohm, kmeter.
            spellings += [p + w for p in prefix.symbols for w in words]
            for spelling in spellings:
                known = self.prefixed.get(spelling)
                if known is not None and known.name != entry.name:
                    self.prefixed_collisions[spelling] = (known.name, entry.name)
                self.prefixed[spelling] = entry

    def _register(self, table: dict[str, UnitEntry], spelling: str, entry: UnitEntry) -> None:
        if spelling in table:
            raise ValueError(
                f"duplicate spelling {spelling!r}: already {table[spelling].name!r}, "
                f"now {entry.name!r}"
            )
        table[spelling] = entry
        if spelling[-1] in DIGITS:
            self._glued = self._glued | {spelling}

    @property
    def glued(self) -> frozenset[str]:
        """Spellings that end in digits (``g0``), which the tokenizer reads as one name."""
        return self._glued

    # -- lookup --------------------------------------------------------------------------
    def lookup(self, word: str) -> UnitEntry | None:
        """The unit a spelling names, or None (ambiguities are the caller's check)."""
        entry = self.exact.get(word)
        if entry is None and word not in self.prefixed_collisions:
            entry = self.prefixed.get(word)
        return entry

    def resolve(self, tok: Token, expression: str) -> Term:
        """Parser callback: NAME token -> Term, or an Ambiguous/Unknown refusal."""
        word = tok.text
        reason = self.refused.get(word)
        if reason is not None:
            raise LogarithmicUnitError(
                f"unit {word!r} at position {tok.pos} in {expression!r} is refused: {reason}",
                expression=expression,
                symbol=word,
                position=tok.pos,
            )
        readings = self.ambiguous.get(word)
        if readings is None and word not in self.exact:
            readings = self.prefixed_collisions.get(word)
        if readings:
            listed = " or ".join(repr(r) for r in readings)
            raise AmbiguousUnitError(
                f"ambiguous unit symbol {word!r} at position {tok.pos} in {expression!r}: "
                f"it could mean {listed}; expected one of those spelled out",
                expression=expression,
                symbol=word,
                position=tok.pos,
                suggestions=list(readings),
            )
        entry = self.lookup(word)
        if entry is None:
            suggestions = self.suggestions(word)
            tail = f"; did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""
            raise UnknownUnitError(
                f"unknown unit symbol {word!r} at position {tok.pos} in {expression!r}; "
                f"expected a unit symbol or name such as 'm', 'km', 'degC' or 'meter'{tail}",
                expression=expression,
                symbol=word,
                position=tok.pos,
                suggestions=suggestions,
            )
        term = entry.term
        return Term(
            term.exponents, term.scale, term.offset, term.offset_name, term.interval, tok.pos
        )

    def check_adjacent(self, left: Token, right: Token, expression: str) -> None:
        """Parser callback: 'deg C' would silently be degree*coulomb; refuse it."""
        pair = f"{left.text} {right.text}"
        if pair in self.hints:
            meant = self.hints[pair]
            raise AmbiguousUnitError(
                f"{pair!r} at position {left.pos} in {expression!r} reads as {left.text!r} "
                f"times {right.text!r}; did you mean {meant!r}? Expected no space inside a "
                f"unit symbol, or '*' for a deliberate product",
                expression=expression,
                symbol=pair,
                position=left.pos,
                suggestions=[meant, f"{left.text}*{right.text}"],
            )

    def suggestions(self, word: str, limit: int = 3) -> list[str]:
        """Hints first, then case-only differences, then close spellings (difflib)."""
        found: list[str] = []
        if word in self.hints:
            found.append(self.hints[word])
        found += [k for k in self._lower.get(word.lower(), []) if k != word]
        found += difflib.get_close_matches(word[:40], self._names, n=limit, cutoff=0.75)
        unique = list(dict.fromkeys(found))
        return unique[:limit]

    def spellings(self) -> dict[str, UnitEntry]:
        """Every accepted spelling (exact ones override prefixed), for tests and docs."""
        merged = {k: v for k, v in self.prefixed.items() if k not in self.prefixed_collisions}
        merged.update(self.exact)
        return {
            k: v for k, v in merged.items() if k not in self.ambiguous and k not in self.refused
        }


def load_registry(text: str, source: str = "definitions.txt") -> Registry:
    """Build a Registry from the text of a definitions file (tests use tiny ones)."""
    return Registry(read_definitions(text, source), source)


def default_registry() -> Registry:
    """The registry of the packaged ``definitions.txt``."""
    text = resources.files("service.units").joinpath("definitions.txt").read_text("utf-8")
    return load_registry(text)
