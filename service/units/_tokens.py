"""Tokenizer of the unit grammar: a single linear pass, no regular-expression backtracking.

Client text is the attack surface, so the tokenizer is deliberately narrow: one space
(U+0020) is the only whitespace inside an expression, every other non-printable
character is refused, and only ASCII digits are numbers (``'²'.isdigit()`` is true in
Python, so ``str.isdigit`` is never used). Decimal numbers and ``[dimension]``
references are tokens only in *data mode*, which reads ``definitions.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from service.errors import UnitLimitError, UnitSyntaxError

__all__ = ["MAX_TOKENS", "Kind", "Token", "is_name", "tokenize"]

MAX_TOKENS = 100
"""More tokens than this is refused: 256 characters of ``m*m*...`` need not be parsed."""

DIGITS = frozenset("0123456789")
_SUPERSCRIPTS = {
    "⁰": "0",
    "¹": "1",
    "²": "2",
    "³": "3",
    "⁴": "4",
    "⁵": "5",
    "⁶": "6",
    "⁷": "7",
    "⁸": "8",
    "⁹": "9",
    "⁻": "-",
    "⁺": "+",
    "ᐟ": "/",  # dimtensor's own str(Dimension) writes fractions with U+141F
}
_MUL = frozenset("*·⋅×")  # ASCII star, middle dot U+00B7, dot operator U+22C5, U+00D7
_SOLO_NAMES = frozenset("%‰")  # one-character unit names that never join a longer name


class Kind(Enum):
    NAME = "unit symbol"
    NUMBER = "number"
    SUPER = "superscript exponent"
    MUL = "'*'"
    DIV = "'/'"
    POW = "'^'"
    SIGN = "sign"
    LPAREN = "'('"
    RPAREN = "')'"
    BASE = "base dimension"
    END = "end of text"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``pos`` is its 0-based index in the (stripped) expression."""

    kind: Kind
    text: str
    pos: int
    space_before: bool = False
    value: Fraction | None = None  # superscript exponents only

    def describe(self) -> str:
        """How a message names this token: ``'m' at position 3`` or ``end of text``."""
        if self.kind is Kind.END:
            return "end of text"
        return f"{self.text!r} at position {self.pos}"


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or ch in "_°"


def is_name(text: str) -> bool:
    """Whether ``text`` is a single NAME token (used to validate the data file): name
    characters, optionally ending in digits (``g0``), which the tokenizer joins to the
    name only for spellings the table declares (``glued``)."""
    if text in _SOLO_NAMES:
        return True
    stem = text.rstrip("0123456789")
    return bool(stem) and all(_is_name_char(ch) for ch in stem)


def tokenize(
    expression: str, *, data_mode: bool = False, glued: frozenset[str] = frozenset()
) -> list[Token]:
    """Split ``expression`` into tokens, ending with an END token.

    ``glued``: the table's spellings that end in digits (``g0``, ``g_0``). A name followed
    directly by digits is one NAME token only when the whole text is one of them; anywhere
    else the digits stay a NUMBER, so ``m2`` is still refused with "did you mean 'm^2'".

    Raises:
        UnitSyntaxError: a character outside the grammar (with its position).
        UnitLimitError: more than MAX_TOKENS tokens.
    """
    tokens: list[Token] = []
    i, n = 0, len(expression)
    space = False
    while i < n:
        ch = expression[i]
        start = i
        if ch == " ":
            space = True
            i += 1
            continue
        if not ch.isprintable():
            raise UnitSyntaxError(
                f"control or non-printable character U+{ord(ch):04X} at position {i} in "
                f"{expression!r}; expected unit symbols, operators and single spaces",
                expression=expression,
                position=i,
                symbol=f"U+{ord(ch):04X}",
            )
        if ch in DIGITS:
            i = _scan_number(expression, i)
            tokens.append(Token(Kind.NUMBER, expression[start:i], start, space))
        elif ch in _SOLO_NAMES:
            i += 1
            tokens.append(Token(Kind.NAME, ch, start, space))
        elif _is_name_char(ch):
            while i < n and _is_name_char(expression[i]):
                i += 1
            i = _glue_digits(expression, start, i, glued)
            tokens.append(Token(Kind.NAME, expression[start:i], start, space))
        elif ch in _SUPERSCRIPTS:
            while i < n and expression[i] in _SUPERSCRIPTS:
                i += 1
            text = expression[start:i]
            value = _superscript_value(text, expression, start)
            tokens.append(Token(Kind.SUPER, text, start, space, value))
        elif ch == "*" and expression.startswith("**", i):
            i += 2
            tokens.append(Token(Kind.POW, "**", start, space))
        elif ch in _MUL:
            i += 1
            tokens.append(Token(Kind.MUL, ch, start, space))
        elif ch in "/^()+-":
            i += 1
            kind = {
                "/": Kind.DIV,
                "^": Kind.POW,
                "(": Kind.LPAREN,
                ")": Kind.RPAREN,
                "+": Kind.SIGN,
                "-": Kind.SIGN,
            }[ch]
            tokens.append(Token(kind, ch, start, space))
        elif ch == "[" and data_mode:
            end = expression.find("]", i)
            if end < 0:
                raise UnitSyntaxError(f"unclosed '[' at position {i} in {expression!r}")
            i = end + 1
            tokens.append(Token(Kind.BASE, expression[start + 1 : end], start, space))
        else:
            raise UnitSyntaxError(
                f"unexpected character {ch!r} at position {i} in {expression!r}; expected a "
                "unit symbol, a number exponent, '*', '/', '^', '**', '(' or ')'",
                expression=expression,
                position=i,
                symbol=ch,
            )
        space = False
        if len(tokens) > MAX_TOKENS:
            raise UnitLimitError(
                f"unit expression {expression[:40]!r}... has more than {MAX_TOKENS} tokens; "
                f"expected at most {MAX_TOKENS}",
                expression=expression,
                limit=MAX_TOKENS,
            )
    tokens.append(Token(Kind.END, "", n, space))
    return tokens


def _glue_digits(expression: str, start: int, end: int, glued: frozenset[str]) -> int:
    """Index past the name at ``start:end`` and, when the table declares the name with
    the digits that follow it (``g0``), past those digits too."""
    if not glued or end >= len(expression) or expression[end] not in DIGITS:
        return end
    stop = end
    while stop < len(expression) and expression[stop] in DIGITS:
        stop += 1
    return stop if expression[start:stop] in glued else end


def _scan_number(expression: str, i: int) -> int:
    """Index past the number at ``i``: digits, then optional ``.digits`` and ``e[+-]digits``.

    The number is scanned whole in both modes so that outside data mode the parser
    refuses ``2.5`` or ``1e3`` as one token rather than as confusing pieces.
    """
    n = len(expression)
    while i < n and expression[i] in DIGITS:
        i += 1
    if i < n and expression[i] == ".":
        i += 1
        while i < n and expression[i] in DIGITS:
            i += 1
    if i < n and expression[i] in "eE":
        j = i + 1
        if j < n and expression[j] in "+-":
            j += 1
        if j < n and expression[j] in DIGITS:
            i = j
            while i < n and expression[i] in DIGITS:
                i += 1
    return i


def _superscript_value(text: str, expression: str, pos: int) -> Fraction:
    """Value of a superscript run such as ``⁻³`` or ``¹ᐟ²``."""
    plain = "".join(_SUPERSCRIPTS[c] for c in text)
    sign = 1
    body = plain
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    num, _, den = body.partition("/")
    ok = num != "" and all(c in DIGITS for c in num)
    ok = ok and ("/" not in body or (den != "" and all(c in DIGITS for c in den)))
    if not ok or len(body) > 6:
        raise UnitSyntaxError(
            f"malformed superscript exponent {text!r} at position {pos} in {expression!r}; "
            "expected digits with an optional leading '⁻', e.g. 'm²' or 's⁻¹'",
            expression=expression,
            position=pos,
            symbol=text,
        )
    if den and int(den) == 0:
        raise UnitSyntaxError(
            f"zero denominator in exponent {text!r} at position {pos} in {expression!r}",
            expression=expression,
            position=pos,
            symbol=text,
        )
    return sign * Fraction(int(num), int(den) if den else 1)
