"""The one-command SLO run, short: a real gunicorn server on loopback and headless Locust for
a few seconds. Nothing here asserts a timing: the reports exist, every deliberately invalid
request got its documented 4xx, an impossible SLO file fails the run and a lax one passes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jobkit.exits import ExitCode
from loadtests.slo import DEFAULT_SLO, SloFile, _exit_code, load_slo_file

pytestmark = pytest.mark.slow

INVALID = {
    "invalid native dimension (422)",
    "invalid native malformed JSON (400)",
    "invalid native unknown model (404)",
    "invalid oip dimension (400)",
    "invalid oip unknown model (404)",
}
LOAD = {"users": 5, "user_rps": 10, "seconds": 4, "invalid_share": 0.3, "max_rows": 64}


def slo_file(tmp_path: Path, name: str, objectives: dict[str, float]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"objectives": objectives, "load": LOAD}), encoding="utf-8")
    return path


def run(slo: Path, out: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "loadtests.slo", "--slo", str(slo), "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def test_a_lax_slo_passes_with_every_report_and_the_documented_4xx(tmp_path: Path) -> None:
    lax = {"max_failure_ratio": 0.0, "p95_ms": 60_000, "p99_ms": 60_000, "min_rps": 0.1}
    out = tmp_path / "lax"
    result = run(slo_file(tmp_path, "lax", lax), out)
    assert result.returncode == 0, result.stdout + result.stderr + (out / "locust.log").read_text()
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                 "locust_exceptions.csv", "report.html", "locust.json", "verdict.json",
                 "slo-report.json", "slo-report.md"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    with (out / "locust_stats.csv").open(newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    assert set(rows) >= INVALID, sorted(rows)
    for name in INVALID:
        assert int(rows[name]["Request Count"]) > 0, name
    assert {n: r["Failure Count"] for n, r in rows.items() if r["Failure Count"] != "0"} == {}
    report = json.loads((out / "slo-report.json").read_text())
    assert report["exit_code"] == 0
    assert [o["objective"] for o in report["verdict"]["objectives"]] == [
        "max_failure_ratio", "p95_ms", "p99_ms", "min_rps",
    ]  # fmt: skip
    assert all(o["met"] for o in report["verdict"]["objectives"])
    assert "| Aggregated |" in (out / "slo-report.md").read_text()
    assert result.stdout.splitlines()[-1].startswith("PASS")


def test_an_impossible_slo_fails_the_run(tmp_path: Path) -> None:
    impossible = {"p95_ms": 0.001, "min_rps": 1e9}
    result = run(slo_file(tmp_path, "impossible", impossible), tmp_path / "impossible")
    assert result.returncode == ExitCode.OBJECTIVE_MISSED, result.stdout + result.stderr
    missed = [line for line in result.stdout.splitlines() if line.endswith("MISSED")]
    assert len(missed) == 2, result.stdout
    assert result.stdout.splitlines()[-1].startswith("FAIL")


def test_the_checked_in_slo_file_is_valid() -> None:
    slo = load_slo_file(DEFAULT_SLO)
    assert None not in slo.objectives.model_dump().values()
    assert (slo.server.workers, slo.server.torch_threads) == (1, 1)


def test_a_misspelt_key_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("objectives: {p95: 10}\n", encoding="utf-8")
    result = run(path, tmp_path / "typo")
    assert result.returncode == ExitCode.CONFIG
    assert "p95" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_a_saturated_generator_is_no_verdict() -> None:
    slo = SloFile.model_validate({"objectives": {"p95_ms": 10}})
    met = {"exit_code": 0, "objectives": []}
    assert _exit_code(slo, {"verdict": met, "generator_cpu_busiest_percent": 95.0}) == (
        ExitCode.GENERATOR_SATURATED
    )
    assert _exit_code(slo, {"verdict": met, "generator_cpu_busiest_percent": 50.0}) == 0
    no_verdict = {"verdict": None, "generator_cpu_busiest_percent": 5.0}
    assert _exit_code(slo, no_verdict) == ExitCode.GENERATOR_FAILED
