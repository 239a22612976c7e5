"""The HPA check's verdict on recorded and hand-made timelines, passing and failing, through
the pure functions and through ``python -m loadtests.hpa_check --replay``."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from jobkit.exits import ExitCode
from loadtests.hpa_verdict import (
    COLUMNS,
    Criterion,
    Expectation,
    Timing,
    calibrate,
    judge,
    read_timeline,
)
from tests.loadtests.timelines import (
    LATE_AND_LOSSY,
    PLAN,
    TIMELINES,
    Story,
    build,
    chart_hpa,
    write,
)

EXPECT = Expectation(3, 5, "hand-made")


def failing(criteria: list[Criterion]) -> list[str]:
    return [c.name.split(" after")[0] for c in criteria if not c.ok]


def verdict(story: Story, timing: Timing | None = None, **hpa: object) -> list[str]:
    return failing(judge(chart_hpa(**hpa), build(story), EXPECT, timing or Timing()))


def test_the_reaction_bound_follows_the_e2e_budget() -> None:
    timing = Timing()
    assert timing.metrics_delay_s == 75  # 30 s new window + 30 s old window + 15 s new pod
    assert timing.reaction_s == 75 + 15 + 30
    assert Timing(metrics_resolution_s=5, sync_period_s=5, pod_start_s=5).reaction_s == 35
    assert Timing(reaction_override_s=42).reaction_s == 42


def test_a_timely_lossless_timeline_passes() -> None:
    assert verdict(Story()) == []


@pytest.mark.parametrize(
    ("story", "hpa", "fails"),
    [
        (Story(blip_in_first_low=90.0), {}, ["low phase holds still"]),
        (Story(rise_after=150.0), {}, ["scale-out", "reaches 5 ready"]),
        (Story(rise_after=None), {}, ["scale-out", "reaches 5 ready", "scale-in"]),
        (Story(peak=4), {}, ["reaches 5 ready"]),
        (Story(peak=21), {}, ["within minReplicas..maxReplicas"]),
        (Story(failures_in_high=1), {}, ["no failed request while scaling out"]),
        (Story(failures_in_low=2), {}, ["no failed request while scaling in"]),
        (Story(fall_after=200.0), {}, ["scale-in"]),
        (Story(fall_after=None), {}, ["scale-in"]),
        (Story(fall_after=450.0), {}, ["scale-in"]),  # later than 300 + 120 s
        (Story(fall_to=4), {}, ["scale-in"]),  # in time, but it stops above minReplicas
        # a scale-up stabilisation window of 120 s makes a rise 30-60 s after the step early
        (Story(), {"behavior": {"scaleUp": {"stabilizationWindowSeconds": 120}}}, ["scale-out"]),
        (Story(), {"maxReplicas": 4}, ["expected replicas", "within minReplicas..maxReplicas"]),
    ],
    ids=lambda v: str(v)[:40] if not isinstance(v, Story) else "",
)
def test_each_broken_promise_fails_its_criterion(
    story: Story, hpa: dict[str, object], fails: list[str]
) -> None:
    assert verdict(story, None, **hpa) == fails


def test_sampling_doubt_goes_to_the_system() -> None:
    # The fall is seen at the first poll after 300 s: it may have happened right after the
    # window (the previous poll came before it), so it passes; one poll earlier fails.
    assert verdict(Story(fall_after=300.0)) == []
    assert verdict(Story(fall_after=270.0)) == ["scale-in"]


def test_a_tighter_reaction_bound_fails_the_same_timeline() -> None:
    assert verdict(Story(), Timing(reaction_override_s=20)) == ["scale-out", "reaches 5 ready"]


def test_a_timeline_without_a_high_phase_fails() -> None:
    rows = [r for r in build(Story()) if r.phase == "low" and r.t_s <= 180]
    assert failing(judge(chart_hpa(), rows, EXPECT, Timing())) == ["load plan"]


def test_calibration_reads_the_per_pod_rate_from_the_first_low_phase() -> None:
    # 150 req/s over 3 pods at 12.04 % each: 65 % is 270 req/s per pod (the story's figure).
    rows = build(Story())
    assert calibrate(rows, 65) == pytest.approx(270, rel=0.01)


def test_the_checked_in_timelines_have_the_timeline_columns_and_both_phases() -> None:
    for folder in sorted(p for p in TIMELINES.iterdir() if p.is_dir()):
        header = (folder / "timeline.csv").read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(COLUMNS)
        assert {r.phase for r in read_timeline(folder / "timeline.csv")} == {"low", "high"}


def test_the_checked_in_hand_made_timeline_is_the_builders() -> None:
    rows = read_timeline(TIMELINES / "handmade-late-and-lossy" / "timeline.csv")
    assert rows == build(LATE_AND_LOSSY)


def replay(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "loadtests.hpa_check", "--replay", str(folder),
            "--out", str(out), *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def test_replay_of_the_recorded_timeline_passes_and_draws(tmp_path: Path) -> None:
    result = replay(TIMELINES / "standin-recorded", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("PASS ") for line in lines) == 8
    assert lines[-1] == "PASS: every criterion holds"
    assert (tmp_path / "hpa-check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# recorded by tests/cluster/test_hpa.py on the project's Kubernetes v1.35.4 test cluster
LIVE = Path(__file__).resolve().parents[2] / "docs" / "hpa-live"


def test_replay_of_the_real_cluster_recording_passes(tmp_path: Path) -> None:
    result = replay(LIVE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("PASS ") for line in lines) == 8
    assert "PASS scale-in after the step" in result.stdout
    assert "back to 1 " in result.stdout


def test_replay_of_the_real_cluster_held_recording_fails_on_scale_out(tmp_path: Path) -> None:
    # the same run with maxReplicas equal to minReplicas: the HPA could not scale
    result = replay(LIVE / "held", tmp_path)
    assert result.returncode == ExitCode.OBJECTIVE_MISSED, result.stdout + result.stderr
    assert "FAIL reaches 3 ready: at most 1 ready in this high phase" in result.stdout
    assert "replicas never rose above 1 in this high phase" in result.stdout


def test_replay_of_the_recorded_under_scaled_timeline_fails(tmp_path: Path) -> None:
    # recorded with the older N - 0.5 high rate: 3 pods sat inside the 10 % tolerance
    result = replay(TIMELINES / "standin-recorded-underscaled", tmp_path)
    assert result.returncode == ExitCode.OBJECTIVE_MISSED, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert [line.split(":")[0] for line in failed] == ["FAIL reaches 4 ready"]


def test_replay_of_the_hand_made_failing_timeline_fails(tmp_path: Path) -> None:
    result = replay(TIMELINES / "handmade-late-and-lossy", tmp_path)
    assert result.returncode == ExitCode.OBJECTIVE_MISSED, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert [line.split(":")[0] for line in failed] == [
        "FAIL scale-out after the step at 180-195 s",
        "FAIL reaches 5 ready",
        "FAIL no failed request while scaling out",
        "FAIL scale-in after the step at 420-435 s",
    ]


def test_replay_without_a_plan_calibrates_from_the_timeline(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", build(Story()), chart_hpa(), {})
    (folder / "plan.json").unlink()
    result = replay(folder, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"low 3, high 5 \(27\d\.\d req/s per pod at the target\)", result.stdout)


def test_expect_overrides_the_recorded_plan(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", build(Story()), chart_hpa(), PLAN)
    result = replay(folder, tmp_path / "out", "--expect", "6")
    assert result.returncode == ExitCode.OBJECTIVE_MISSED
    assert "FAIL reaches 6 ready" in result.stdout


def test_replay_refuses_a_timeline_with_other_columns(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", build(Story()), chart_hpa(), PLAN)
    text = (folder / "timeline.csv").read_text(encoding="utf-8")
    (folder / "timeline.csv").write_text(text.replace("p95_ms", "p95"), encoding="utf-8")
    result = replay(folder, tmp_path / "out")
    assert result.returncode == ExitCode.CONFIG
    assert "columns" in result.stderr


def test_replay_refuses_an_hpa_without_a_cpu_target(tmp_path: Path) -> None:
    hpa = chart_hpa(metrics=[])
    folder = write(tmp_path / "in", build(Story()), hpa, PLAN)
    assert replay(folder, tmp_path / "out").returncode == ExitCode.CONFIG


def test_stories_are_what_they_say() -> None:
    rows = build(replace(Story(), rise_after=45.0))
    high = [r for r in rows if r.phase == "high"]
    assert (high[0].t_s, high[-1].t_s) == (195, 420)
    assert max(r.current_replicas for r in rows) == 5
