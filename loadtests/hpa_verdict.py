"""The HPA check's verdict: pure functions over a timeline and the HPA object, no cluster.

The criteria, after Kubernetes' own autoscaling e2e tests
(``test/e2e/autoscaling/horizontal_pod_autoscaling_behavior.go``): the load is calibrated so
that the expected replica count is known in advance; every scaling step has a lower and an
upper time bound; a low phase is a "must not scale" window. The bounds:

- reaction bound ``R = metrics delay + sync period + pod start``, where the metrics delay
  is, as the e2e test budgets it, a full window of new usage (2 x the metrics resolution),
  the window with old usage passing (2 x) and a new pod's first metrics (1 x): 75 s at
  metrics-server's 15 s;
- scale-out: the first rise of the Deployment's replicas after a low -> high change comes
  no earlier than ``scaleUp.stabilizationWindowSeconds`` and no later than ``R``; the
  ready replicas reach the expected count within ``R`` plus one policy period per further
  policy-limited step;
- scale-in: the first fall after high -> low comes no earlier than
  ``scaleDown.stabilizationWindowSeconds`` and no later than that window plus ``R``, and
  the low phase ends with desired and current replicas back at the low count (minReplicas):
  a fall that stops half way is no scale-in.

A timeline is sampled: an event seen at row k happened after row k-1, and a phase change
seen at row j happened after row j-1. Each bound is checked with the benefit of that
doubt, so the verdict does not depend on where the polls fell.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.hpa_model import HpaSpec, scale_up_steps

__all__ = [
    "COLUMNS",
    "Criterion",
    "Expectation",
    "Row",
    "Timing",
    "calibrate",
    "judge",
    "read_timeline",
    "write_timeline",
]

COLUMNS = (
    "t_s",
    "phase",
    "offered_rps",
    "rps",
    "p95_ms",
    "failures",
    "cpu_utilization",
    "desired_replicas",
    "current_replicas",
    "ready_replicas",
)


@dataclass(frozen=True)
class Row:
    """One poll: the load over the interval that ends at `t_s`, and the HPA's state."""

    t_s: float
    phase: str
    offered_rps: float
    rps: float
    p95_ms: float
    failures: int
    cpu_utilization: float | None
    desired_replicas: int
    current_replicas: int
    ready_replicas: int


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def read_timeline(path: Path) -> list[Row]:
    """A ``timeline.csv``; its header must be exactly ``COLUMNS``."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader))
        if header != COLUMNS:
            raise ValueError(f"{path}: columns {header}, expected {COLUMNS}")
        rows = []
        for cells in reader:
            if not cells:
                continue
            v = dict(zip(COLUMNS, cells, strict=True))
            if v["phase"] not in {"low", "high"}:
                raise ValueError(f"{path}: phase {v['phase']!r} is neither low nor high")
            rows.append(
                Row(
                    t_s=float(v["t_s"]),
                    phase=v["phase"],
                    offered_rps=float(v["offered_rps"]),
                    rps=float(v["rps"]),
                    p95_ms=float(v["p95_ms"] or 0),
                    failures=int(v["failures"]),
                    cpu_utilization=_number(v["cpu_utilization"]),
                    desired_replicas=int(v["desired_replicas"]),
                    current_replicas=int(v["current_replicas"]),
                    ready_replicas=int(v["ready_replicas"]),
                )
            )
    return rows


def write_timeline(path: Path, rows: Iterable[Row]) -> None:
    """Write rows with the ``COLUMNS`` header (empty cell: utilisation unknown)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            util = "" if r.cpu_utilization is None else f"{r.cpu_utilization:g}"
            writer.writerow(
                [
                    f"{r.t_s:.1f}",
                    r.phase,
                    f"{r.offered_rps:g}",
                    f"{r.rps:.2f}",
                    f"{r.p95_ms:g}",
                    r.failures,
                    util,
                    r.desired_replicas,
                    r.current_replicas,
                    r.ready_replicas,
                ]
            )


@dataclass(frozen=True)
class Timing:
    """The cluster's clocks, from which the bounds follow (all overridable)."""

    sync_period_s: float = 15.0  # kube-controller-manager --horizontal-pod-autoscaler-sync-period
    metrics_resolution_s: float = 15.0  # metrics-server --metric-resolution
    pod_start_s: float = 30.0  # created -> ready: scheduling, image, the server's start
    reaction_override_s: float | None = None

    @property
    def metrics_delay_s(self) -> float:
        """Full window of new usage (2x) + old usage passing (2x) + new pod metrics (1x)."""
        return 5 * self.metrics_resolution_s

    @property
    def reaction_s(self) -> float:
        if self.reaction_override_s is not None:
            return self.reaction_override_s
        return self.metrics_delay_s + self.sync_period_s + self.pod_start_s


@dataclass(frozen=True)
class Expectation:
    """Replicas each phase should settle at."""

    low: int
    high: int
    source: str  # where the numbers come from, for the report


@dataclass(frozen=True)
class Criterion:
    """One line of the verdict."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"


@dataclass
class _Change:
    """A phase change seen between rows `before` and `at`."""

    before: Row
    at: Row
    rows_after: list[Row] = field(default_factory=list)  # rows until the next change


def _changes(rows: Sequence[Row]) -> list[_Change]:
    out: list[_Change] = []
    for prev, row in itertools.pairwise(rows):
        if row.phase != prev.phase:
            out.append(_Change(prev, row))
        if out and row.t_s >= out[-1].at.t_s:
            out[-1].rows_after.append(row)
    return out


def _first(rows: Sequence[Row], prev: Row, cond: Any) -> tuple[Row, Row] | None:
    """(row before, row) where `cond(row)` first holds."""
    before = prev
    for row in rows:
        if cond(row):
            return before, row
        before = row
    return None


def calibrate(rows: Sequence[Row], target_percent: float) -> float | None:
    """Requests/s one pod serves at the HPA's target, from the first low phase: its last
    rows with a known utilisation (the HPA's average at a known rate and pod count)."""
    first_low: list[Row] = []
    for row in rows:
        if row.phase != "low":
            break
        first_low.append(row)
    costs = [  # percent of the request per (request/s per pod)
        r.cpu_utilization * r.ready_replicas / r.rps
        for r in first_low
        if r.cpu_utilization and r.rps > 0 and r.ready_replicas > 0
    ]
    tail = costs[len(costs) // 2 :]  # the later half: the metric has caught up with the load
    if not tail:
        return None
    return target_percent / (sum(tail) / len(tail))


def expected_from_calibration(spec: HpaSpec, rows: Sequence[Row], pod_rps: float) -> Expectation:
    """Replicas the offered rates need at the target: ceil(rate / pod_rps), clamped."""

    def need(rate: float) -> int:
        return max(spec.min_replicas, min(spec.max_replicas, math.ceil(rate / pod_rps)))

    low = max((r.offered_rps for r in rows if r.phase == "low"), default=0.0)
    high = max((r.offered_rps for r in rows if r.phase == "high"), default=0.0)
    return Expectation(need(low), need(high), f"{pod_rps:.1f} req/s per pod at the target")


def judge(
    hpa: dict[str, Any], rows: Sequence[Row], expect: Expectation, timing: Timing
) -> list[Criterion]:
    """Every criterion, in order; the check passes when all are ok."""
    spec = HpaSpec.from_object(hpa)
    if not rows:
        return [Criterion("timeline", False, "no rows")]
    out = [_expectation_fits(spec, expect), _bounds(spec, rows), _first_low_holds(rows)]
    for change in _changes(rows):
        if change.at.phase == "high":
            out += _scale_out(spec, change, expect, timing)
        else:
            out += _scale_in(spec, change, expect, timing)
    if not any(c.at.phase == "high" for c in _changes(rows)):
        out.append(Criterion("load plan", False, "the timeline has no low -> high change"))
    return out


def _expectation_fits(spec: HpaSpec, expect: Expectation) -> Criterion:
    ok = spec.min_replicas <= expect.low < expect.high <= spec.max_replicas
    return Criterion(
        "expected replicas",
        ok,
        f"low {expect.low}, high {expect.high} ({expect.source}); HPA "
        f"{spec.min_replicas}-{spec.max_replicas}"
        + ("" if ok else ": the plan cannot show scaling within these bounds"),
    )


def _bounds(spec: HpaSpec, rows: Sequence[Row]) -> Criterion:
    counts = [n for r in rows for n in (r.desired_replicas, r.current_replicas)]
    low, high = min(counts), max(counts)
    ok = spec.min_replicas <= low and high <= spec.max_replicas
    return Criterion(
        "within minReplicas..maxReplicas",
        ok,
        f"replicas seen {low}-{high}, allowed {spec.min_replicas}-{spec.max_replicas}",
    )


def _first_low_holds(rows: Sequence[Row]) -> Criterion:
    end = next((i for i, r in enumerate(rows) if r.phase != "low"), len(rows))
    first = list(rows[:end])
    if not first:
        return Criterion("low phase holds still", False, "the timeline does not start low")
    seen = sorted({(r.desired_replicas, r.current_replicas) for r in first})
    ok = len(seen) == 1
    span = f"{first[0].t_s:g}-{first[-1].t_s:g} s"
    return Criterion(
        "low phase holds still",
        ok,
        f"(desired, current) {seen[0]} throughout {span}"
        if ok
        else f"(desired, current) changed during the first low phase ({span}): {seen}",
    )


def _scale_out(
    spec: HpaSpec, change: _Change, expect: Expectation, timing: Timing
) -> list[Criterion]:
    t_early, t_late = change.before.t_s, change.at.t_s  # the step happened in (early, late]
    base = change.before.current_replicas
    rows = change.rows_after
    lower = spec.scale_up.stabilization_s
    upper = timing.reaction_s
    rise = _first(rows, change.before, lambda r: r.current_replicas > base)
    out = []
    if rise is None:
        out.append(
            Criterion(
                f"scale-out after the step at {t_early:g}-{t_late:g} s",
                False,
                f"replicas never rose above {base} in this high phase",
            )
        )
    else:
        earliest, latest = rise[0].t_s - t_late, rise[1].t_s - t_early
        ok = latest >= lower and earliest <= upper
        out.append(
            Criterion(
                f"scale-out after the step at {t_early:g}-{t_late:g} s",
                ok,
                f"replicas rose {base} -> {rise[1].current_replicas} {earliest:g}-{latest:g} s "
                f"after the step; allowed {lower:g}-{upper:g} s",
            )
        )
    steps = scale_up_steps(spec, base, expect.high)
    period = max((p.period_s for p in spec.scale_up.policies), default=0)
    reach_bound = upper + max(0, steps - 1) * max(period, timing.sync_period_s)
    reach = _first(rows, change.before, lambda r: r.ready_replicas >= expect.high)
    if reach is None:
        most = max((r.ready_replicas for r in rows), default=base)
        out.append(
            Criterion(
                f"reaches {expect.high} ready", False, f"at most {most} ready in this high phase"
            )
        )
    else:
        earliest = reach[0].t_s - t_late
        out.append(
            Criterion(
                f"reaches {expect.high} ready",
                earliest <= reach_bound,
                f"{expect.high} ready {earliest:g}-{reach[1].t_s - t_early:g} s after the step "
                f"({steps} policy step(s)); allowed up to {reach_bound:g} s",
            )
        )
    failed = sum(r.failures for r in rows)
    out.append(
        Criterion(
            "no failed request while scaling out",
            failed == 0,
            f"{failed} failed request(s) in the high phase",
        )
    )
    return out


def _scale_in(
    spec: HpaSpec, change: _Change, expect: Expectation, timing: Timing
) -> list[Criterion]:
    t_early, t_late = change.before.t_s, change.at.t_s
    base = change.before.current_replicas
    rows = change.rows_after
    window = spec.scale_down.stabilization_s
    upper = window + timing.reaction_s
    out = []
    rose = [r for r in rows if r.current_replicas > base or r.desired_replicas > base]
    fall = _first(rows, change.before, lambda r: r.current_replicas < base)
    end = rows[-1] if rows else change.at
    back = end.current_replicas == end.desired_replicas == expect.low
    if fall is None:
        seen = (rows[-1].t_s - t_early) if rows else 0.0
        why = (
            f"replicas never fell below {base}; the low phase lasted {seen:g} s, "
            f"the bound is {upper:g} s"
        )
        out.append(Criterion(f"scale-in after the step at {t_early:g}-{t_late:g} s", False, why))
    else:
        earliest, latest = fall[0].t_s - t_late, fall[1].t_s - t_early
        out.append(
            Criterion(
                f"scale-in after the step at {t_early:g}-{t_late:g} s",
                latest >= window and earliest <= upper and not rose and back,
                f"replicas fell {base} -> {fall[1].current_replicas} {earliest:g}-{latest:g} s "
                f"after the step; allowed {window:g}-{upper:g} s"
                + (f"; but rose to {max(r.current_replicas for r in rose)} first" if rose else "")
                + _back_to(rows, change.before, expect.low, (t_early, t_late)),
            )
        )
    failed = sum(r.failures for r in rows)
    out.append(
        Criterion(
            "no failed request while scaling in",
            failed == 0,
            f"{failed} failed request(s) in the low phase",
        )
    )
    return out


def _back_to(rows: Sequence[Row], before: Row, low: int, t_step: tuple[float, float]) -> str:
    """The scale-in's last word: when desired and current settled on the low count
    (minReplicas) for the rest of the phase, or what they were when it ended."""
    end = rows[-1]
    if not end.current_replicas == end.desired_replicas == low:
        return (
            f"; not back to {low}: desired {end.desired_replicas}, current "
            f"{end.current_replicas} at the end of the low phase "
            f"({end.t_s - t_step[0]:g} s after the step)"
        )
    k = len(rows)
    while k > 0 and rows[k - 1].current_replicas == rows[k - 1].desired_replicas == low:
        k -= 1
    prev = rows[k - 1] if k > 0 else before
    return f"; back to {low} {prev.t_s - t_step[1]:g}-{rows[k].t_s - t_step[0]:g} s after the step"
