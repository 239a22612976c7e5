"""The examples in docs/units.md are what the grammar really does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.units import parse_unit

DOC = Path(__file__).resolve().parents[1] / "docs" / "units.md"
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| ([0-9.e+-]+) \| ([0-9.e+-]+) \|$")
ROWS = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]


def test_the_table_is_there():
    assert len(ROWS) >= 15


@pytest.mark.parametrize(("expr", "si", "scale", "offset"), ROWS, ids=[r[0] for r in ROWS])
def test_documented_example(expr: str, si: str, scale: str, offset: str):
    unit = parse_unit(expr)
    assert unit.si_expression == si
    assert unit.scale == pytest.approx(float(scale), rel=1e-12)
    assert unit.offset == pytest.approx(float(offset), rel=1e-12, abs=1e-12)
