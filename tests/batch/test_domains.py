"""Validity domains in batch jobs: the same core flags (or refuses) the same rows as the
server; every row gets a boolean column, and the merge summary counts the rows outside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from batch.merge import MERGED, SUMMARY
from jobkit.exits import ExitCode
from tests.support.jobs import BATCH, rows_of

cli, write_config = BATCH.cli, BATCH.write_config

PENDULUM_SWEEP: dict[str, Any] = {
    "kind": "sweep",
    "model": "pendulum",
    "parameters": {
        "length": {"unit": "m", "value": 1},
        "amplitude": {"unit": "deg", "values": [10, 90, 160, 170, -175]},  # bound: 160.43
        "g": {"unit": "m/s^2", "values": [9.81, 1.62]},
    },
    "merge": True,
}


def test_rows_outside_are_flagged_in_a_column_and_counted_in_the_summary(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, PENDULUM_SWEEP)
    assert cli("run", config) == ExitCode.OK
    rows = rows_of(tmp_path / "out").to_pydict()
    want = [abs(a) > 160.428 for a in rows["amplitude"]]
    assert rows["outside_domain"] == want
    assert rows["outside_domain_inputs"] == ["amplitude" if w else None for w in want]
    assert all(p > 0 for p in rows["period"])  # flagged rows are still answered
    summary = json.loads((tmp_path / "out" / SUMMARY).read_text())
    assert summary["outside_domain"] == {"rows": 4, "inputs": {"amplitude": 4}}
    schema = pq.read_schema(tmp_path / "out" / MERGED)
    assert str(schema.field("outside_domain").type) == "bool"


def test_refuse_stops_the_job_at_the_first_row_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOMAIN_POLICY", "refuse")
    config = write_config(tmp_path, PENDULUM_SWEEP)
    assert cli("run", config) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "row 6" in err  # 170 deg with g = 9.81, the grid's 7th row
    assert "input 'amplitude': received 170 deg" in err


def test_ignore_writes_no_flag_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAIN_POLICY", "ignore")
    config = write_config(tmp_path, PENDULUM_SWEEP)
    assert cli("run", config) == ExitCode.OK
    assert "outside_domain" not in rows_of(tmp_path / "out").column_names
    summary = json.loads((tmp_path / "out" / SUMMARY).read_text())
    assert "outside_domain" not in summary
