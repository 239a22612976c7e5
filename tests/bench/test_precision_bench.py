"""``python -m bench.precision`` runs end to end and states its ratios against the first tree
(no timing is asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.precision import ROWS, Row, table
from tests.support.skips import ONE_CORE  # the one skip the gate allows: a machine, not an install

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_table_states_bytes_and_requests_against_the_first_tree() -> None:
    rows = [
        Row("/before", "native", 1500, 2000.0, 5.0, 9.0, 0),
        Row("/before", "oip", 1600, 1800.0, 6.0, 11.0, 0),
        Row("/after", "native", 900, 2200.0, 4.5, 8.0, 0),
        Row("/after", "oip", 1040, 1800.0, 6.0, 11.0, 1),
    ]
    lines = table(rows).splitlines()
    assert lines[2] == f"| /before | native | {ROWS} | 1,500 | 2,000 | 5.00 | 9.00 | 0 |"
    assert (
        lines[4] == f"| /after | native | {ROWS} | 900 (0.60x) | 2,200 (1.10x) | 4.50 | 8.00 | 0 |"
    )
    assert (
        lines[5] == f"| /after | oip | {ROWS} | 1,040 (0.65x) | 1,800 (1.00x) | 6.00 | 11.00 | 1 |"
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason=ONE_CORE)
def test_precision_bench_runs_end_to_end_on_a_tiny_duration() -> None:
    assert shutil.which("wrk"), "wrk is not on PATH: run `bash scripts/install-tools.sh`"
    argv = [sys.executable, "-m", "bench.precision", "--seconds", "1", "--warmup", "0"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {ROOT} |")]
    assert [r.split("|")[2].strip() for r in rows] == ["native", "oip"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[3].replace(",", "")) > 0  # an answer's bytes
        assert cells[7] == "0"  # every request answered 200
