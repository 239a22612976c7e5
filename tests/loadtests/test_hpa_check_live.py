"""``python -m loadtests.hpa_check`` against a cluster played by ``kubectl_standin.py`` around
a real server: the plumbing (kubectl calls, calibration, the files and their columns, the
verdict lines). The verdict itself is not asserted: it depends on this machine's speed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from loadtests.hpa_verdict import COLUMNS, read_timeline
from tests.loadtests.standin_run import hpa_object, run

pytestmark = pytest.mark.slow


def test_a_short_live_run_writes_everything_and_judges(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hpa = hpa_object(down_window=3)
    result = run(
        out, hpa=hpa, cpu_request_m=50, sync_s=1, resolution_s=1, pod_start_s=1, low_rps=20,
        phases=(6, 6, 8), poll_s=1, timeout_s=180,
    )  # fmt: skip
    assert result.returncode in {0, 1}, result.stdout + result.stderr
    assert json.loads((out / "hpa.json").read_text())["spec"] == hpa["spec"]
    header = (out / "timeline.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    rows = read_timeline(out / "timeline.csv")
    phases = [phase for phase, _ in itertools.groupby(r.phase for r in rows)]
    assert phases == ["low", "high", "low"]
    assert all(r.cpu_utilization is not None for r in rows)
    plan = json.loads((out / "plan.json").read_text())
    assert plan["source"].startswith("calibrated")
    assert plan["expected_high"] == 4  # minReplicas 2 + 2
    assert (out / "hpa-check.png").read_bytes()[:4] == b"\x89PNG"
    verdict = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdict) == 9  # eight criteria and the summary
    assert "calibrated:" in result.stdout
