"""Buckingham Pi analysis as a batch kind: dimtensor's own ``buckingham_pi``, reported as rows.

A problem is a named set of variables with units (the config's ``variables:``) or an equation
of dimtensor's database (``dimtensor.equations``: by name, domain or search). Units are read
by the project's safe grammar (``service.units``), never by dimtensor's ``eval`` loader.

Each Π group becomes one row: the problem, the group's number, its exponent vector (JSON,
exact fractions) and a readable product. dimtensor may return fractional exponents
(``F^1/2/(rho^1/2 v L)``); a power of a Π group is still a Π group, so each is reported
scaled to the smallest whole exponents with a positive first one (``F/(rho·v^2·L^2)``),
which is what a physicist writes. Problems are sharded like rows: shard ``i`` of ``n`` takes
problems ``[p * i // n, p * (i + 1) // n)``, in a fixed order (database order by name).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pyarrow as pa
from dimtensor.analysis import buckingham_pi
from dimtensor.equations import get_equation, get_equations, search_equations

from batch.config import PiJob
from jobkit.errors import ConfigError
from jobkit.parquet import Column
from service.errors import ServiceError
from service.units import parse_unit

__all__ = ["COLUMNS", "PiProblem", "pi_rows", "problems_for", "readable"]

COLUMNS = (
    Column("problem", pa.int64(), "1", "dimensionless"),
    Column("source", pa.string()),
    Column("variables", pa.string()),
    Column("rank", pa.int64(), "1", "dimensionless"),
    Column("group", pa.int64(), "1", "dimensionless"),
    Column("exponents", pa.string()),
    Column("product", pa.string()),
)


@dataclass(frozen=True)
class PiProblem:
    """Named variables, each with a dimension (a dimtensor ``Dimension``)."""

    source: str
    variables: dict[str, Any]
    units: dict[str, str]


def problems_for(config: PiJob) -> list[PiProblem]:
    """The problems a config names; refused (exit 2) when a unit or equation is unknown."""
    if config.variables is not None:
        dims = {}
        for name, text in config.variables.items():
            try:
                dims[name] = parse_unit(text).dimension
            except ServiceError as exc:
                raise ConfigError(f"variables: {name!r}: {exc.message}") from None
        return [PiProblem("variables", dims, dict(config.variables))]
    query = config.equations
    if query is None:  # the schema requires one of the two
        raise ConfigError("expected exactly one of variables or equations")
    if query.name is not None:
        try:
            equations = [get_equation(query.name)]
        except (KeyError, ValueError):
            raise ConfigError(
                f"equations.name: no equation {query.name!r} in dimtensor's database; "
                "search it with equations: {search: ...}"
            ) from None
    elif query.domain is not None:
        equations = get_equations(domain=query.domain)
    else:
        equations = search_equations(query.search or "")
    if not equations:
        raise ConfigError(f"equations: {query.model_dump(exclude_none=True)} matches nothing")
    equations = sorted(equations, key=lambda e: e.name)
    return [
        PiProblem(e.name, dict(e.variables), {k: str(v) for k, v in e.variables.items()})
        for e in equations
    ]


def pi_rows(problems: list[PiProblem], start: int) -> Iterator[dict[str, Any]]:
    """One row per Π group of each problem (``start``: the first problem's number)."""
    for offset, problem in enumerate(problems):
        try:
            result = buckingham_pi(problem.variables)
        except ValueError as exc:
            raise ConfigError(f"{problem.source}: Buckingham Pi refused it: {exc}") from None
        for number, group in enumerate(result["pi_groups"], start=1):
            exponents = _whole(group.exponents)
            yield {
                "problem": start + offset,
                "source": problem.source,
                "variables": json.dumps(problem.units, ensure_ascii=False),
                "rank": int(result["rank"]),
                "group": number,
                "exponents": json.dumps({k: str(v) for k, v in exponents.items()}),
                "product": readable(exponents),
            }


def _whole(exponents: dict[str, Fraction]) -> dict[str, Fraction]:
    """The same group raised to the power that makes its exponents the smallest whole
    numbers, the first non-zero one positive."""
    nonzero = {k: Fraction(v) for k, v in exponents.items() if v != 0}
    if not nonzero:
        return nonzero
    scale = Fraction(math.lcm(*(v.denominator for v in nonzero.values())))
    whole = {k: v * scale for k, v in nonzero.items()}
    divisor = math.gcd(*(int(v) for v in whole.values()))
    sign = -1 if next(iter(whole.values())) < 0 else 1
    return {k: v * sign / divisor for k, v in whole.items()}


def readable(exponents: dict[str, Fraction]) -> str:
    """``F/(rho·v^2·L^2)``: positive powers over negative ones."""
    up = [_power(k, v) for k, v in exponents.items() if v > 0]
    down = [_power(k, -v) for k, v in exponents.items() if v < 0]
    top = "·".join(up) or "1"
    if not down:
        return top
    bottom = down[0] if len(down) == 1 else "(" + "·".join(down) + ")"
    return f"{top}/{bottom}"


def _power(name: str, exponent: Fraction) -> str:
    if exponent == 1:
        return name
    text = str(exponent)
    return f"{name}^{text}" if exponent.denominator == 1 else f"{name}^({text})"
