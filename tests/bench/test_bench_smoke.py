"""The benchmark runs end to end: two servers, wrk, one table (no timing is asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import Result, table
from tests.support.skips import ONE_CORE  # the one skip the gate allows: a machine, not an install

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_table_states_ratios_against_the_right_baseline() -> None:
    rows = [
        Result("baseline", 16, rps=1000.0, first_answer_s=1.0, tree_rss_mib=200, tree_pss_mib=190),
        Result(
            "native", 16, rps=950.0, first_answer_s=1.1, tree_rss_mib=230, tree_pss_mib=210,
            respawn_s=0.8,
        ),
        Result("native-2w", 16, rps=900.0, tree_pss_mib=330),
        Result("batch-off", 64, rps=100.0),
        Result("batch-on", 64, rps=350.0),
    ]  # fmt: skip
    text = table(rows)
    assert "| native | 16 | 950 | 0.95x baseline |" in text
    assert "| 1.10 (1.10x) | 230 (1.15x) | 210 | 0.80 |" in text
    assert "| baseline | 16 | 1,000 | - |" in text
    assert text.splitlines()[2].endswith("| 1.00 | 200 | 190 | - |")
    assert "| batch-on | 64 | 350 | 3.50x batch-off |" in text
    assert "PSS of one extra worker (native-2w - native): 120 MiB" in text


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason=ONE_CORE)
def test_bench_runs_end_to_end_on_a_tiny_duration() -> None:
    # wrk is installed by the project (scripts/install-tools.sh, run by `make test`): missing
    # means a broken install, so it fails here (bench.run would otherwise apt-get it itself).
    assert shutil.which("wrk"), "wrk is not on PATH: run `bash scripts/install-tools.sh`"
    argv = [sys.executable, "-m", "bench", "--seconds", "1", "--warmup", "0"]
    argv += ["--only", "baseline", "native"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("machine: ") for line in lines)
    native = next(line for line in lines if line.startswith("| native |"))
    cells = [c.strip() for c in native.strip("|").split("|")]
    assert cells[3].endswith("x baseline")
    assert cells[6] == "0"  # no non-2xx answer: the requests were valid
    first, rss = (float(cells[i].split()[0]) for i in (8, 9))
    assert cells[8].endswith("x)")
    assert first > 0
    assert rss > 0
    assert float(cells[10]) > 0  # the tree's PSS
    assert float(cells[11]) > 0  # a killed worker was replaced and answered


def test_profile_gives_each_sample_to_the_innermost_part() -> None:
    from bench.profile import shares

    raw = "\n".join(
        [
            "run (uvicorn/server.py);__call__ (service/rest/operations.py);"
            "forward (torch/nn/modules/linear.py) 7",
            "run (uvicorn/server.py);__call__ (service/rest/operations.py) 2",
            "run (uvicorn/server.py) 3",
            "somewhere (elsewhere.py) 1",
            "",
        ]
    )
    assert shares(raw) == {
        "model: torch forward and LoadedModel.predict": 7,
        "operations middleware: ids, limits, deadline, send wrapper": 2,
        "uvicorn protocol and event loop": 3,
        "other": 1,
    }


def test_batch_bench_runs_end_to_end_and_states_ratios_to_the_bare_loop() -> None:
    argv = [sys.executable, "-m", "bench.batch", "--rows", "20000", "--repeats", "1"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ba")]
    assert [r.split("|")[1].strip() for r in rows] == ["bare", "batch"]
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert cells[1] == "20,000"
    assert cells[4].endswith("x")
    assert float(cells[5]) > 0  # a peak RSS was measured


def test_batch_bench_table_compares_each_row_count_with_its_own_bare_loop() -> None:
    from bench.batch import table

    text = table(
        [
            {"kind": "bare", "rows": 10, "seconds": 1.0, "rss_mib": 100.0},
            {"kind": "batch", "rows": 10, "seconds": 2.0, "rss_mib": 120.0},
            {"kind": "bare", "rows": 100, "seconds": 1.0, "rss_mib": 100.0},
            {"kind": "batch", "rows": 100, "seconds": 1.25, "rss_mib": 121.0},
        ]
    )
    assert "| batch | 10 | 2.00 | 5 | 0.50x | 120 |" in text
    assert "| batch | 100 | 1.25 | 80 | 0.80x | 121 |" in text


def test_training_bench_runs_end_to_end_and_states_the_ratio() -> None:
    argv = [sys.executable, "-m", "bench.training", "--steps", "20", "--repeats", "1"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "steps/s" not in line
    ]
    assert [r.split("|")[1].strip() for r in rows] == ["bare", "dimtensor-train"]
    assert rows[0].rstrip(" |").endswith("1.00x")
    assert rows[1].split("|")[2].strip() == "20"
