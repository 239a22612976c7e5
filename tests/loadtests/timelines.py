"""Hand-made HPA timelines: a plan (low -> high -> low) sampled every `poll` seconds, with the
replica counts changing exactly when a test says, against the chart's values-inference HPA
(min 3, max 20, 65 %, scale-up 0 s window, scale-down 300 s window). With the default clocks
the reaction bound is 75 + 15 + 30 = 120 s.

``python -m tests.loadtests.timelines`` rewrites ``loadtests/timelines/handmade-*``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loadtests.hpa_verdict import Row, write_timeline

ROOT = Path(__file__).resolve().parents[2]
TIMELINES = ROOT / "loadtests" / "timelines"


def chart_hpa(**spec: Any) -> dict[str, Any]:
    """The HPA values-inference.yaml renders (behaviour from values.yaml), spec overridable."""
    base: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dimtensor-api"},
        "minReplicas": 3,
        "maxReplicas": 20,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 65}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "Utilization", "averageUtilization": 80}}},
        ],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 30},
                {"type": "Pods", "value": 4, "periodSeconds": 30}]},
            "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 50, "periodSeconds": 60}]},
        },
    }  # fmt: skip
    base.update(spec)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "dimtensor-api", "namespace": "dimtensor"},
        "spec": base,
    }


@dataclass(frozen=True)
class Story:
    """When things happen, in seconds after the step they follow."""

    poll: float = 15.0
    low_s: float = 180.0
    high_s: float = 240.0
    scale_in_s: float = 480.0
    base: int = 3
    high: int = 5
    low_rps: float = 150.0
    high_rps: float = 1350.0
    rise_after: float | None = 45.0  # desired/current go up to `high`; None: never
    ready_lag: float = 30.0  # ready follows `rise_after` by this much
    fall_after: float | None = 330.0  # after high -> low, back to `base`; None: never
    fall_to: int | None = None  # replicas the fall stops at instead of `base`
    failures_in_high: int = 0
    failures_in_low: int = 0
    blip_in_first_low: float | None = None  # a replica added at this time of the first low
    peak: int | None = None  # replicas reached instead of `high`


def build(story: Story = Story()) -> list[Row]:
    s = story
    rows: list[Row] = []
    t = s.poll
    step_up, step_down = s.low_s, s.low_s + s.high_s
    end = step_down + s.scale_in_s
    top = s.peak if s.peak is not None else s.high
    while t <= end + 1e-9:
        phase = "high" if step_up < t <= step_down else "low"
        replicas = ready = s.base
        risen = s.rise_after is not None and t > step_up + s.rise_after
        if risen and t <= step_down:
            replicas = top
            ready = top if t > step_up + s.rise_after + s.ready_lag else s.base  # type: ignore[operator]
        if t > step_down:
            fallen = s.fall_after is not None and t > step_down + s.fall_after
            landing = s.base if s.fall_to is None else s.fall_to
            replicas = ready = landing if fallen else (s.base if not risen else top)
        if s.blip_in_first_low is not None and s.blip_in_first_low < t <= step_up:
            replicas = ready = s.base + 1
        rate = s.high_rps if phase == "high" else s.low_rps
        failures = 0
        if phase == "high" and abs(t - (step_up + (s.rise_after or 0.0))) < s.poll / 2:
            failures = s.failures_in_high
        if phase == "low" and t > step_down and abs(t - (step_down + 60)) < s.poll / 2:
            failures = s.failures_in_low
        util = 65.0 * rate / (ready * 270.0)  # a pod serves 270 req/s at the 65 % target
        rows.append(Row(t, phase, rate, rate, 12.0, failures, round(util, 1), replicas,
                        replicas, ready))  # fmt: skip
        t += s.poll
    return rows


PLAN = {"expected_high": 5, "source": "hand-made: 270 req/s per pod at 65 %"}
LATE_AND_LOSSY = Story(rise_after=150.0, failures_in_high=3, fall_after=200.0)


def write(folder: Path, rows: list[Row], hpa: dict[str, Any], plan: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hpa.json").write_text(json.dumps(hpa, indent=2) + "\n", encoding="utf-8")
    write_timeline(folder / "timeline.csv", rows)
    (folder / "plan.json").write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return folder


def main() -> None:
    write(TIMELINES / "handmade-late-and-lossy", build(LATE_AND_LOSSY), chart_hpa(), PLAN)


__all__ = ["LATE_AND_LOSSY", "PLAN", "Story", "build", "chart_hpa", "replace", "write"]

if __name__ == "__main__":
    main()
