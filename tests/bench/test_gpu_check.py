"""``scripts/gpu-check.sh``, the prepared check of a GPU node, as CI can run it: on the CPU
(every GPU hidden from torch), where it says "no GPU" in one line, checks the CPU half for real
and exits 0; and the comparison and the report it prints on a GPU, from numbers given here.
No timing is asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from bench.gpu_check import ROWS, TOLERANCE, agreement, tables
from tests.support.paths import REPO

SCRIPT = REPO / "scripts" / "gpu-check.sh"


def gpu_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script as an operator runs it, with no GPU visible to torch."""
    full = {**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=full, timeout=240, check=False
    )


@pytest.mark.slow
def test_without_a_gpu_it_says_so_in_one_line_and_checks_the_cpu_half(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = gpu_check("--quick", "--json", str(report))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = [line for line in done.stdout.splitlines() if line.startswith("no GPU: ")]
    assert len(said) == 1
    assert "torch " in said[0]
    assert "checking the CPU half only" in said[0]

    doc = json.loads(report.read_text())
    assert set(doc) == {
        "device", "sees", "quick", "tolerance", "train", "compare", "forward", "predict", "passed",
    }  # fmt: skip
    assert (doc["device"], doc["sees"], doc["quick"], doc["passed"]) == ("cpu", said[0], True, True)
    assert doc["train"]["device"] == "cpu"
    assert doc["train"]["seconds"] > 0
    assert math.isfinite(doc["train"]["relative_l2_error"])
    (compared,) = doc["compare"]  # the CPU server against the export's own forward pass
    assert compared["served"] == "cpu /predict"
    assert compared["rows"] == ROWS
    assert compared["ok"]
    assert compared["tolerance"] == TOLERANCE
    assert compared["scale"] > 0
    assert {r["device"] for r in doc["forward"] + doc["predict"]} == {"cpu"}
    assert [r["rows"] for r in doc["forward"]] == sorted(r["rows"] for r in doc["forward"])
    assert all(r["rows_per_s"] > 0 for r in doc["forward"] + doc["predict"])
    assert all(r["requests_per_s"] > 0 and r["errors"] == 0 for r in doc["predict"])
    assert "| rows/request | device | requests/s | rows/s | not 200 |" in done.stdout


@pytest.mark.parametrize(
    ("served", "expected", "ok"),
    [
        ([100.0, -72.0, 0.0], [100.0, -72.0, 0.0], True),  # identical
        ([100.0, -72.0, 0.009], [100.0, -72.0, 0.0], True),  # 9e-5 of the scale (100)
        ([100.0, -72.0, 0.011], [100.0, -72.0, 0.0], False),  # 1.1e-4 of the scale
        ([101.4, -72.0, 0.0], [100.0, -72.0, 0.0], False),  # TF32-sized: 1.4 % of the scale
        ([math.nan, -72.0, 0.0], [100.0, -72.0, 0.0], False),  # a NaN is never close
        ([100.0, -72.0], [100.0, -72.0, 0.0], False),  # a row missing
        ([0.0, 0.0], [0.0, 0.0], True),  # nothing to scale by, and no difference
        ([1e-9, 0.0], [0.0, 0.0], False),  # nothing to scale by, a difference
    ],
)
def test_an_answer_agrees_within_the_tolerance_of_the_references_scale(
    served: list[float], expected: list[float], ok: bool
) -> None:
    check = agreement("cuda /predict", served, "cpu /predict", expected)
    assert check.ok is ok
    assert check.line().endswith(": ok" if ok else ": MISMATCH")


def test_the_report_puts_both_devices_side_by_side_with_their_ratio() -> None:
    loop = {"connections": 4, "seconds": 5.0, "requests": 1, "errors": 0, "rows": 300}
    report = {
        "train": {"device": "cuda", "steps": 3000, "lbfgs_steps": 500, "seconds": 40.0,
                  "relative_l2_error": 9e-5},
        "forward": [
            {"device": "cuda", "rows": 1, "rows_per_s": 5_000.0},
            {"device": "cuda", "rows": 65536, "rows_per_s": 400_000_000.0},
            {"device": "cpu", "rows": 1, "rows_per_s": 20_000.0},
            {"device": "cpu", "rows": 65536, "rows_per_s": 1_000_000.0},
        ],
        "predict": [
            {**loop, "device": "cuda", "requests_per_s": 900.0, "rows_per_s": 270_000.0},
            {**loop, "device": "cpu", "requests_per_s": 800.0, "rows_per_s": 240_000.0},
        ],
    }  # fmt: skip
    lines = tables(report).splitlines()
    assert lines[0] == (
        "training on cuda: 3,000 Adam + 500 L-BFGS steps in 40.0 s, relative L2 error 9e-05"
    )
    assert "| rows | cuda | cpu | cuda / cpu |" in lines
    assert "| 1 | 5,000 | 20,000 | 0.25x |" in lines
    assert "| 65,536 | 400,000,000 | 1,000,000 | 400.00x |" in lines
    assert "| 300 | cuda | 900 | 270,000 | 0 |" in lines


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--bogus"], {}, "unknown option '--bogus'"),
        (["frobnicate"], {}, "unknown command 'frobnicate'"),
        (["--quick"], {"PYTHON": "/nonexistent/python"}, "run 'make install' first"),
    ],
)
def test_a_wrong_call_exits_2_saying_why_before_anything_runs(
    args: list[str], env: dict[str, str], says: str
) -> None:
    done = gpu_check(*args, env=env)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_help_prints_the_usage_header() -> None:
    done = gpu_check("help")
    assert done.returncode == 0
    assert done.stdout.startswith("The prepared check of a machine with an NVIDIA GPU")
    assert "--json FILE" in done.stdout
