"""Recursive-descent parser of unit expressions; it evaluates as it goes, so no tree is kept.

Grammar (client mode)::

    product  := power (('*' | '/' | ' ') power)*     left-associative: m/s/s = m/s²
    power    := atom [('^' | '**') exponent | superscript]
    exponent := ['-'|'+'] NUM | '(' ['-'|'+'] NUM ['/' INT] ')'
    NUM      := INT | a decimal that is a half, third or quarter (0.5, -1.5, 0.25, 0.333)
    atom     := NAME | '1' | '(' product ')'

Choices that refuse rather than guess:

* Implicit multiplication (a space) is not accepted after a '/': ``W/m^2 K`` reads as
  W/(m²·K) to some people and (W/m²)·K to others; write one of those.
* A digit glued to a symbol (``m2``) is refused with the suggestion ``m^2``.
* Numbers other than ``1`` are refused as factors (a unit is not a quantity); data
  mode (the definitions file) accepts decimal factors.
* A chained power (``m^2^3``) is refused: write ``(m^2)^3``.
* A decimal exponent is read only when it spells a half or quarter exactly (``m^0.5``,
  ``s^-0.25``) or a third to at least three places, rounded or cut (``0.333``,
  ``0.667``, ``0.666``): anything else is refused with its fraction form, because
  dimension exponents are exact fractions and ``m^0.3`` is more likely a typo than
  a length to the power 3/10.
* Absolute temperatures (terms with an offset) may only stand alone.

Recursion is bounded by MAX_DEPTH parentheses and tokens by MAX_TOKENS, so every input
ends quickly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Protocol

from service.errors import OffsetUnitError, UnitLimitError, UnitSyntaxError

from ._tokens import DIGITS, Kind, Token, tokenize

__all__ = [
    "BASE_DIMENSIONS",
    "MAX_DECIMAL_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_EXPONENT_DENOMINATOR",
    "MAX_TOTAL_EXPONENT",
    "SymbolTable",
    "Term",
    "decimal_exponent",
    "parse_expression",
]

BASE_DIMENSIONS = ("length", "mass", "time", "current", "temperature", "amount", "luminosity")
"""dimtensor's order of the seven base dimensions."""

MAX_DEPTH = 8  # nested parentheses
MAX_EXPONENT = 12  # |written exponent|
MAX_EXPONENT_DENOMINATOR = 12  # written and resulting denominators
MAX_TOTAL_EXPONENT = 24  # |resulting exponent| of any base dimension
MAX_DECIMAL_LENGTH = 10  # characters of a decimal exponent ('0.33333333')

Exponents = tuple[Fraction, ...]
_ZERO: Exponents = (Fraction(0),) * len(BASE_DIMENSIONS)
_ONE = Fraction(1)


Scale = Fraction | float
"""Exact (a Fraction) while every step is rational; a float after an irrational power."""


def _is_decimal(text: str) -> bool:
    """``digits.digits`` (no exponent part: ``1e3`` is not an exponent anyone means)."""
    whole, dot, places = text.partition(".")
    return bool(dot and whole and places) and all(c in DIGITS for c in whole + places)


def decimal_exponent(text: str) -> Fraction | None:
    """The exponent an unsigned decimal spells, or None: a multiple of 1/2 or 1/4 exactly,
    or a multiple of 1/3 written to at least 3 places, rounded or cut (``0.333``,
    ``0.667``, ``0.666``, ``1.3333``)."""
    value = Fraction(text)
    if value.denominator in (1, 2, 4):
        return value
    places = len(text.partition(".")[2])
    if places < 3:
        return None
    third = Fraction(round(value * 3), 3)
    scale = 10**places
    spelled = {Fraction(int(third * scale), scale), Fraction(round(third * scale), scale)}
    return third if value in spelled else None


def as_float(value: Scale) -> float:
    """The nearest float, or infinity when the exact value is beyond float range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


@dataclass(frozen=True, slots=True)
class Term:
    """An evaluated (sub)expression: base-dimension exponents and the SI value of one unit.

    ``offset_name`` is set only on a bare absolute-temperature unit (degC); any algebra
    on such a term is refused, which is how "offset units only alone" is enforced.
    """

    exponents: Exponents
    scale: Scale
    offset: Scale = Fraction(0)
    offset_name: str | None = None
    interval: str | None = None
    pos: int = 0


class SymbolTable(Protocol):
    """What the parser needs from the registry; both may raise UnitError subclasses."""

    def resolve(self, tok: Token, expression: str) -> Term:
        """The Term a NAME token means (the expression is for messages)."""

    def check_adjacent(self, left: Token, right: Token, expression: str) -> None:
        """Refuse two names joined by a space that are a known misspelling ('deg C')."""

    @property
    def glued(self) -> frozenset[str]:
        """Spellings that end in digits (``g0``): one name, not a name and a number."""


def parse_expression(expression: str, table: SymbolTable, *, data_mode: bool = False) -> Term:
    """Parse and evaluate ``expression`` (already stripped and length-checked)."""
    tokens = tokenize(expression, data_mode=data_mode, glued=table.glued)
    return _Parser(expression, tokens, table, data_mode).run()


class _Parser:
    def __init__(
        self, expression: str, tokens: list[Token], table: SymbolTable, data_mode: bool
    ) -> None:
        self.expression = expression
        self.tokens = tokens
        self.table = table
        self.data_mode = data_mode
        self.i = 0

    # -- helpers -------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.END:
            self.i += 1
        return tok

    def syntax(self, what: str, tok: Token, tail: str = "", **details: object) -> UnitSyntaxError:
        return UnitSyntaxError(
            f"{what}; received {tok.describe()} in {self.expression!r}{tail}",
            expression=self.expression,
            position=tok.pos,
            symbol=tok.text or None,
            **details,
        )

    # -- grammar -------------------------------------------------------------------------
    def run(self) -> Term:
        term = self.product(0)
        tok = self.peek()
        if tok.kind is Kind.RPAREN:
            raise self.syntax("unbalanced ')': no '(' is open", tok)
        if tok.kind is not Kind.END:
            raise self.syntax("trailing text after a complete unit expression", tok)
        return term

    def product(self, depth: int) -> Term:
        left = self.power(depth)
        divided = False
        while True:
            tok = self.peek()
            if tok.kind is Kind.MUL:
                self.advance()
                left = self.combine(left, self.power(depth), 1)
            elif tok.kind is Kind.DIV:
                self.advance()
                left = self.combine(left, self.power(depth), -1)
                divided = True
            elif tok.kind in (Kind.NAME, Kind.NUMBER, Kind.LPAREN, Kind.BASE):
                self.check_implicit(tok, divided)
                left = self.combine(left, self.power(depth), 1)
            else:
                return left

    def check_implicit(self, tok: Token, divided: bool) -> None:
        """A space multiplies; adjacency without a space or after '/' is refused."""
        prev = self.tokens[self.i - 1]
        if not tok.space_before:
            if tok.kind is Kind.NUMBER and prev.kind is Kind.NAME:
                hint = f"{prev.text}^{tok.text}"
                raise self.syntax(
                    f"a digit directly after unit symbol {prev.text!r} (a bare exponent)",
                    tok,
                    f"; exponents need '^': did you mean {hint!r}?",
                    suggestions=[hint],
                )
            raise self.syntax("missing operator: expected '*', '/', '^' or a space", tok)
        if prev.kind is Kind.NAME and tok.kind is Kind.NAME:
            self.table.check_adjacent(prev, tok, self.expression)
        if divided:
            raise self.syntax(
                "a space (implicit product) after '/' is ambiguous: 'a/b c' could mean "
                "a/(b*c) or (a/b)*c; expected explicit parentheses or '*'",
                tok,
            )

    def power(self, depth: int) -> Term:
        base = self.atom(depth)
        tok = self.peek()
        if tok.kind is Kind.POW:
            self.advance()
            base = self.raise_to(base, self.exponent(tok))
        elif tok.kind is Kind.SUPER:
            self.advance()
            value = tok.value if tok.value is not None else Fraction(1)  # always set on SUPER
            self.check_written_exponent(value, tok)
            base = self.raise_to(base, value)
        else:
            return base
        nxt = self.peek()
        if nxt.kind in (Kind.POW, Kind.SUPER):
            raise self.syntax("chained exponent: expected parentheses, e.g. '(m^2)^3'", nxt)
        return base

    def exponent(self, pow_tok: Token) -> Fraction:
        tok = self.peek()
        if tok.kind is Kind.LPAREN:
            self.advance()
            value = self.signed_int(decimal=True)
            if self.peek().kind is Kind.DIV:
                self.advance()
                den_tok = self.peek()
                den = self.signed_int(allow_sign=False)
                if den == 0:
                    raise self.syntax("zero denominator in a fractional exponent", den_tok)
                value = value / den
            close = self.advance()
            if close.kind is not Kind.RPAREN:
                raise self.syntax(
                    "expected ')' closing the exponent, e.g. 'm^(1/2)' or 'm^(-3/2)'", close
                )
        else:
            value = self.signed_int(decimal=True)
        self.check_written_exponent(value, pow_tok)
        return value

    def signed_int(self, *, allow_sign: bool = True, decimal: bool = False) -> Fraction:
        tok = self.advance()
        sign = 1
        if allow_sign and tok.kind is Kind.SIGN:
            sign = -1 if tok.text == "-" else 1
            tok = self.advance()
        if decimal and tok.kind is Kind.NUMBER and _is_decimal(tok.text):
            return sign * self.decimal(tok, sign)
        if tok.kind is not Kind.NUMBER or not all(c in DIGITS for c in tok.text):
            raise self.syntax(
                "expected an integer exponent or a parenthesized fraction such as (1/2)", tok
            )
        if len(tok.text) > 3:
            raise self.limit(f"exponent {tok.text!r} is too large", tok)
        return Fraction(sign * int(tok.text))

    def decimal(self, tok: Token, sign: int) -> Fraction:
        """The half, third or quarter a decimal exponent spells; else refused, showing
        the fraction the decimal is and how to write it."""
        if len(tok.text) > MAX_DECIMAL_LENGTH:
            raise self.limit(f"decimal exponent {tok.text!r} is too long", tok)
        value = decimal_exponent(tok.text)
        if value is not None:
            return value
        exact = sign * Fraction(tok.text)
        written = f"^({exact.numerator}/{exact.denominator})"
        raise self.syntax(
            f"decimal exponent {'-' if sign < 0 else ''}{tok.text} is not a half, third or "
            f"quarter; expected one of those (0.5, 0.333, 0.25, ...) or a fraction: as a "
            f"fraction it is {exact}, written {written!r}",
            tok,
            suggestions=[written],
        )

    def check_written_exponent(self, value: Fraction, tok: Token) -> None:
        if abs(value) > MAX_EXPONENT or value.denominator > MAX_EXPONENT_DENOMINATOR:
            raise self.limit(
                f"exponent {value} after {tok.describe()} is over the limit "
                f"(|exponent| <= {MAX_EXPONENT}, denominator <= {MAX_EXPONENT_DENOMINATOR})",
                tok,
            )

    def atom(self, depth: int) -> Term:
        tok = self.advance()
        if tok.kind is Kind.NAME:
            return self.table.resolve(tok, self.expression)
        if tok.kind is Kind.NUMBER:
            return self.number(tok)
        if tok.kind is Kind.BASE and tok.text in BASE_DIMENSIONS:
            index = BASE_DIMENSIONS.index(tok.text)
            exps = tuple(Fraction(int(k == index)) for k in range(len(BASE_DIMENSIONS)))
            return Term(exps, _ONE, pos=tok.pos)
        if tok.kind is Kind.LPAREN:
            if depth + 1 > MAX_DEPTH:
                raise self.limit(f"parentheses nested deeper than {MAX_DEPTH}", tok)
            inner = self.product(depth + 1)
            close = self.advance()
            if close.kind is not Kind.RPAREN:
                raise self.syntax(f"unbalanced '(' at position {tok.pos}: expected ')'", close)
            return inner
        if tok.kind is Kind.END and self.i == 0 and tok.pos == 0:
            raise self.syntax("empty unit expression: expected a unit such as 'm/s' or '1'", tok)
        raise self.syntax("expected a unit symbol, '1' or '('", tok)

    def number(self, tok: Token) -> Term:
        if self.data_mode:
            try:
                value = Fraction(tok.text)
            except ValueError:
                raise self.syntax("expected a positive finite number", tok) from None
            if value <= 0:
                raise self.syntax("expected a positive finite number", tok)
            return Term(_ZERO, value, pos=tok.pos)
        if tok.text == "1":
            return Term(_ZERO, _ONE, pos=tok.pos)
        raise self.syntax(
            "numeric factor: only '1' is accepted as a number outside exponents (a unit "
            "is not a quantity; put magnitudes in the values); exponents need '^'",
            tok,
        )

    # -- algebra -------------------------------------------------------------------------
    def combine(self, left: Term, right: Term, sign: int) -> Term:
        self.refuse_offset(left)
        self.refuse_offset(right)
        exps = tuple(a + sign * b for a, b in zip(left.exponents, right.exponents, strict=True))
        scale = left.scale * right.scale if sign > 0 else left.scale / right.scale
        return self.checked(Term(exps, scale, pos=left.pos), right.pos)

    def raise_to(self, base: Term, exponent: Fraction) -> Term:
        self.refuse_offset(base)
        exps = tuple(e * exponent for e in base.exponents)
        scale: Scale
        if isinstance(base.scale, Fraction) and exponent.denominator == 1:
            scale = base.scale ** int(exponent)  # stays exact
        else:
            try:
                scale = math.pow(as_float(base.scale), float(exponent))
            except (OverflowError, ValueError):
                scale = math.inf
        return self.checked(replace(base, exponents=exps, scale=scale), base.pos)

    def refuse_offset(self, term: Term) -> None:
        if term.offset_name is None:
            return
        interval = term.interval or "K"
        raise OffsetUnitError(
            f"{term.offset_name!r} at position {term.pos} in {self.expression!r} is an absolute "
            f"temperature (a unit with an offset) and may only stand alone; expected 'K', "
            f"'degR' or the interval unit {interval!r} inside a compound expression",
            expression=self.expression,
            symbol=term.offset_name,
            position=term.pos,
            suggestions=[interval, "K"],
        )

    def checked(self, term: Term, pos: int) -> Term:
        for e in term.exponents:
            if abs(e) > MAX_TOTAL_EXPONENT or e.denominator > MAX_EXPONENT_DENOMINATOR:
                raise UnitLimitError(
                    f"resulting exponent {e} in {self.expression!r} is over the limit "
                    f"(|exponent| <= {MAX_TOTAL_EXPONENT}, denominator <= "
                    f"{MAX_EXPONENT_DENOMINATOR})",
                    expression=self.expression,
                    position=pos,
                )
        scale = as_float(term.scale)
        if not (math.isfinite(scale) and scale > 0.0):
            raise UnitLimitError(
                f"the SI value of {self.expression!r} is outside the range of a 64-bit float; "
                "expected a unit between about 1e-300 and 1e300 of its SI unit",
                expression=self.expression,
                position=pos,
            )
        return term

    def limit(self, what: str, tok: Token) -> UnitLimitError:
        return UnitLimitError(
            f"{what} in {self.expression!r}",
            expression=self.expression,
            position=tok.pos,
            symbol=tok.text or None,
        )
