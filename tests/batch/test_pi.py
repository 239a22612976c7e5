"""``pi``: dimtensor's own Buckingham Pi, reported as rank, exponent vectors and products."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from dimtensor.equations import get_equations

from batch.pi import readable
from service.units import dimension_exponents, parse_unit
from tests.support.jobs import BATCH, rows_of

cli, write_config = BATCH.cli, BATCH.write_config

DRAG = {"F": "N", "rho": "kg/m^3", "v": "m/s", "L": "m", "mu": "Pa*s"}


def test_the_drag_problem_has_rank_3_and_two_dimensionless_groups(tmp_path: Path) -> None:
    assert cli("run", write_config(tmp_path, {"kind": "pi", "variables": DRAG})) == 0
    rows = rows_of(tmp_path / "out").to_pylist()
    assert [r["group"] for r in rows] == [1, 2]
    assert {r["rank"] for r in rows} == {3}
    assert [r["product"] for r in rows] == ["F/(rho·v^2·L^2)", "F·rho/mu^2"]
    for row in rows:
        exponents = {k: Fraction(v) for k, v in json.loads(row["exponents"]).items()}
        assert _is_dimensionless(exponents, DRAG)


def _is_dimensionless(exponents: dict[str, Fraction], units: dict[str, str]) -> bool:
    total: dict[str, Fraction] = {}
    for name, power in exponents.items():
        for base, e in dimension_exponents(parse_unit(units[name]).dimension).items():
            total[base] = total.get(base, Fraction(0)) + power * Fraction(e)
    return all(v == 0 for v in total.values())


@pytest.mark.parametrize(
    ("exponents", "text"),
    [
        ({"F": 1, "rho": -1, "v": -2, "L": -2}, "F/(rho·v^2·L^2)"),
        ({"rho": 1, "v": 1, "L": 1, "mu": -1}, "rho·v·L/mu"),
        ({"g": 1, "T": 2, "L": -1}, "g·T^2/L"),
        ({"x": Fraction(1, 2)}, "x^(1/2)"),
        ({"t": -1}, "1/t"),
    ],
)
def test_a_group_reads_as_a_product(exponents: dict[str, int | Fraction], text: str) -> None:
    assert readable({k: Fraction(v) for k, v in exponents.items()}) == text


def test_a_domain_of_equations_is_sharded_by_equation_and_merges_whole(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"kind": "pi", "equations": {"domain": "fluid_dynamics"}})
    assert cli("run", config, "--shards", "3") == 0
    assert cli("merge", config) == 0
    rows = rows_of(tmp_path / "out").to_pylist()
    names = sorted(e.name for e in get_equations(domain="fluid_dynamics"))
    assert sorted({r["source"] for r in rows}) == names
    assert [r["problem"] for r in rows] == sorted(r["problem"] for r in rows)
    reynolds = [r["product"] for r in rows if r["source"] == "Reynolds Number"]
    assert "rho·v·L/mu" in reynolds


@pytest.mark.parametrize("query", [{"name": "Drag Equation"}, {"search": "drag"}])
def test_equations_by_name_or_search(tmp_path: Path, query: dict[str, str]) -> None:
    assert cli("run", write_config(tmp_path, {"kind": "pi", "equations": query})) == 0
    sources = {r["source"] for r in rows_of(tmp_path / "out").to_pylist()}
    assert "Drag Equation" in sources
