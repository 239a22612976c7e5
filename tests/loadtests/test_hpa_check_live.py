"""``python -m loadtests.hpa_check`` against a cluster played by ``kubectl_standin.py`` around
a real server: the plumbing (kubectl calls, calibration, the files and their columns, the
verdict lines). The verdict itself is not asserted: it depends on this machine's speed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from jobkit.exits import ExitCode
from loadtests.hpa_check import Kube, interval, pods_worth
from loadtests.hpa_verdict import COLUMNS, read_timeline
from tests.loadtests.standin_run import hpa_object, run


@pytest.mark.slow
def test_a_short_live_run_writes_everything_and_judges(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hpa = hpa_object(down_window=3)
    result = run(
        out, hpa=hpa, cpu_request_m=50, sync_s=1, resolution_s=1, pod_start_s=1, low_rps=20,
        phases=(6, 6, 8), poll_s=1, timeout_s=180,
    )  # fmt: skip
    verdicts = {ExitCode.OK, ExitCode.OBJECTIVE_MISSED}
    assert result.returncode in verdicts, result.stdout + result.stderr
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


def test_kubectl_errors_name_the_object() -> None:
    kube = Kube("false", "ctx", "ns")
    assert kube.argv == ["false", "--context", "ctx", "--namespace", "ns"]
    with pytest.raises(RuntimeError, match="kubectl get deployment api"):
        kube.get("deployment", "api")


def test_interval_figures_from_two_snapshots() -> None:
    before = {"t": 10.0, "requests": 100, "failures": 1, "response_times": {"5": 90, "50": 10}}
    now = {"t": 12.0, "requests": 300, "failures": 3,
           "response_times": {"5": 180, "50": 20, "400": 90}}  # fmt: skip
    rps, p95, failures = interval(before, now)
    assert (rps, failures) == (100.0, 2)
    assert p95 == 400.0  # the slowest 90 of 190 new answers took 400 ms


@pytest.mark.parametrize(("n", "worth"), [(2, 1.55), (4, 3.65), (5, 4.7)])
def test_the_high_rate_aims_at_the_middle_of_what_lands_on_n(n: int, worth: float) -> None:
    # N - 1 pods must be past the 10 % tolerance and rounding up must give N: the interval
    # (1.1 (N - 1), N], whose middle is the plan's
    assert pods_worth(n, 0.1) == pytest.approx(worth)
    assert 1.1 * (n - 1) < pods_worth(n, 0.1) <= n
