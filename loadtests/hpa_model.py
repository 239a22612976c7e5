"""The HorizontalPodAutoscaler's documented algorithm, as a planning aid (no cluster).

From the Kubernetes documentation ("Horizontal Pod Autoscaling", "Algorithm details",
"Configurable scaling behavior") and the controller's structure:

- every sync period (``--horizontal-pod-autoscaler-sync-period``, 15 s) the controller
  reads the metric and recommends ``ceil(current * utilisation / target)``; a ratio within
  the tolerance (10 %) of 1 keeps the current count;
- while scaling up, pods that are not ready yet count as 0 % (the controller recomputes
  with them, and does not scale up if that reverses the direction);
- stabilisation: scale up to the *lowest* recommendation of the last
  ``scaleUp.stabilizationWindowSeconds`` (default 0), down to the *highest* of the last
  ``scaleDown.stabilizationWindowSeconds`` (default 300);
- rate policies: per direction, each policy allows ``Pods`` (a count) or ``Percent`` of the
  replicas at the start of its ``periodSeconds``; ``selectPolicy: Max`` takes the policy
  that allows the largest change, ``Min`` the smallest, ``Disabled`` none;
- the result stays within ``[minReplicas, maxReplicas]``.

``simulate`` runs that loop against a load curve, with a metrics delay and a pod start time,
and tells when a load step is absorbed. It is a model: a real timeline
(``python -m loadtests.hpa_check``) is the evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "TOLERANCE",
    "Controller",
    "HpaSpec",
    "Policy",
    "Rules",
    "SimStep",
    "Simulation",
    "recommend",
    "scale_limit",
    "scale_up_steps",
    "simulate",
]

TOLERANCE = 0.1


@dataclass(frozen=True)
class Policy:
    """One rate policy: ``Pods`` or ``Percent`` per ``period_s``."""

    kind: str
    value: int
    period_s: int


@dataclass(frozen=True)
class Rules:
    """One direction of ``spec.behavior``."""

    stabilization_s: int
    select: str
    policies: tuple[Policy, ...]


# Kubernetes' defaults when spec.behavior (or one direction of it) is absent.
DEFAULT_SCALE_UP = Rules(0, "Max", (Policy("Percent", 100, 15), Policy("Pods", 4, 15)))
DEFAULT_SCALE_DOWN = Rules(300, "Max", (Policy("Percent", 100, 15),))


def _rules(raw: Mapping[str, Any] | None, default: Rules) -> Rules:
    if not raw:
        return default
    policies = tuple(
        Policy(str(p["type"]), int(p["value"]), int(p["periodSeconds"]))
        for p in raw.get("policies") or []
    )
    return Rules(
        int(raw.get("stabilizationWindowSeconds", default.stabilization_s)),
        str(raw.get("selectPolicy", "Max")),
        policies or default.policies,
    )


@dataclass(frozen=True)
class HpaSpec:
    """What the algorithm needs from an autoscaling/v2 HorizontalPodAutoscaler."""

    min_replicas: int
    max_replicas: int
    cpu_target_percent: int | None
    scale_up: Rules = DEFAULT_SCALE_UP
    scale_down: Rules = DEFAULT_SCALE_DOWN
    tolerance: float = TOLERANCE

    @classmethod
    def from_object(cls, hpa: Mapping[str, Any]) -> HpaSpec:
        """From the object as ``kubectl get hpa -o json`` (or the chart) gives it."""
        spec = hpa["spec"]
        target = None
        for metric in spec.get("metrics") or []:
            resource = metric.get("resource") or {}
            if metric.get("type") == "Resource" and resource.get("name") == "cpu":
                target = int(resource["target"]["averageUtilization"])
        behavior = spec.get("behavior") or {}
        return cls(
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec["maxReplicas"]),
            cpu_target_percent=target,
            scale_up=_rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP),
            scale_down=_rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN),
        )


def recommend(spec: HpaSpec, ready: int, unready: int, utilisation: float) -> int:
    """One raw recommendation from the average utilisation (percent of the request) of the
    `ready` pods; `unready` pods count as 0 % when that would change a scale-up."""
    target = spec.cpu_target_percent or 100
    current = ready + unready
    ratio = utilisation / target
    if abs(ratio - 1) <= spec.tolerance or ready == 0:
        return current
    if ratio > 1 and unready:
        ratio = utilisation * ready / (target * current)  # the unready pods at 0 %
        if ratio <= 1 + spec.tolerance:
            return current  # counting them reverses or stops the scale-up
        return math.ceil(ratio * current)
    return math.ceil(ratio * ready)


def scale_limit(rules: Rules, start_replicas: int, up: bool) -> int:
    """The furthest count the policies allow from `start_replicas` (the count at the start
    of each policy's period) in one direction."""
    if rules.select == "Disabled" or not rules.policies:
        return start_replicas
    limits = []
    for p in rules.policies:
        if p.kind == "Pods":
            limits.append(start_replicas + p.value if up else start_replicas - p.value)
        elif up:
            limits.append(math.ceil(start_replicas * (1 + p.value / 100)))
        else:
            limits.append(math.floor(start_replicas * (1 - p.value / 100)))
    pick = max if (rules.select == "Max") == up else min
    return pick(limits)


def scale_up_steps(spec: HpaSpec, start: int, goal: int) -> int:
    """How many policy-limited scale-up steps take `start` replicas to `goal`."""
    steps, n = 0, start
    while n < min(goal, spec.max_replicas):
        n = min(goal, spec.max_replicas, max(n + 1, scale_limit(spec.scale_up, n, up=True)))
        steps += 1
    return steps


@dataclass(frozen=True)
class SimStep:
    """The state after one sync of the simulated controller."""

    t_s: float
    load_rps: float
    utilisation: float  # percent of the request, average over ready pods, as the HPA saw it
    desired: int
    ready: int


class Controller:
    """The controller's state between syncs: past recommendations (stabilisation) and past
    scale events (rate policies). ``sync`` is one reconcile."""

    def __init__(self, spec: HpaSpec) -> None:
        self.spec = spec
        self.history: list[tuple[float, int]] = []  # (t, raw recommendation)
        self.events: list[tuple[float, int]] = []  # (t, change in replicas)

    def sync(self, t: float, current: int, ready: int, utilisation: float) -> int:
        """The replicas the controller sets at `t`, from the ready pods' utilisation."""
        spec = self.spec
        raw = recommend(spec, ready, current - ready, utilisation)
        self.history.append((t, raw))
        up = min(r for ts, r in self.history if ts >= t - spec.scale_up.stabilization_s)
        down = max(r for ts, r in self.history if ts >= t - spec.scale_down.stabilization_s)
        desired = current
        if desired < up:
            desired = up
        if desired > down:
            desired = down
        desired = _rate_limited(spec, current, desired, t, self.events)
        desired = max(spec.min_replicas, min(spec.max_replicas, desired))
        if desired != current:
            self.events.append((t, desired - current))
        horizon = max(
            [spec.scale_up.stabilization_s, spec.scale_down.stabilization_s]
            + [p.period_s for p in (*spec.scale_up.policies, *spec.scale_down.policies)]
        )
        self.history = [(ts, r) for ts, r in self.history if ts >= t - horizon]
        return desired


@dataclass
class Simulation:
    """``simulate``'s result: the steps, and when the load was absorbed."""

    steps: list[SimStep] = field(default_factory=list)
    absorbed_at_s: float | None = None  # first time the ready pods hold the load at target
    peak_utilisation: float = 0.0  # percent of the request, highest true average seen


def simulate(
    spec: HpaSpec,
    load: Callable[[float], float],
    pod_rps_at_100: float,
    *,
    start_replicas: int,
    seconds: float,
    sync_s: float = 15.0,
    metrics_delay_s: float = 60.0,
    pod_start_s: float = 30.0,
    absorb_after_s: float = 0.0,
) -> Simulation:
    """Run the controller every `sync_s` against `load(t)` (requests/s), a pod serving
    `pod_rps_at_100` requests/s at 100 % of its CPU request. The metric at t is the
    utilisation at ``t - metrics_delay_s`` of the pods ready then; a created pod is ready
    `pod_start_s` later.
    Absorbed: the first sync after `absorb_after_s` when the ready pods' true utilisation is
    within the tolerance of the target or below (with maxReplicas reached, maybe never)."""
    target = spec.cpu_target_percent or 100
    created: list[float] = [-1e9] * start_replicas  # creation times of the pods
    controller = Controller(spec)
    sim = Simulation()

    def ready_at(t: float) -> int:
        return sum(1 for c in created if t - c >= pod_start_s)

    t = 0.0
    while t <= seconds:
        # The metric is the load of `metrics_delay_s` ago spread over the pods ready then;
        # pods that became ready since have no metric yet (the HPA counts them at 0 %).
        seen_t = max(0.0, t - metrics_delay_s)
        current = len(created)
        with_metrics = min(current, max(1, ready_at(seen_t)))
        util_seen = 100 * load(seen_t) / (with_metrics * pod_rps_at_100)
        desired = controller.sync(t, current, with_metrics, util_seen)
        if desired > current:
            created += [t] * (desired - current)
        elif desired < current:
            created = sorted(created)[:desired]
        true_util = 100 * load(t) / (max(1, ready_at(t)) * pod_rps_at_100)
        sim.peak_utilisation = max(sim.peak_utilisation, true_util)
        if (
            sim.absorbed_at_s is None
            and t >= absorb_after_s
            and true_util <= target * (1 + spec.tolerance)
        ):
            sim.absorbed_at_s = t  # the HPA has nothing left to do
        sim.steps.append(SimStep(t, load(t), util_seen, desired, ready_at(t)))
        t += sync_s
    return sim


def _rate_limited(
    spec: HpaSpec, current: int, desired: int, t: float, events: list[tuple[float, int]]
) -> int:
    if desired == current:
        return current
    up = desired > current
    rules = spec.scale_up if up else spec.scale_down
    limits = []
    for p in rules.policies:
        changed = sum(d for ts, d in events if ts > t - p.period_s and (d > 0) == up)
        start = current - changed
        limits.append(scale_limit(Rules(0, rules.select, (p,)), start, up))
    if rules.select == "Disabled" or not limits:
        return current
    limit = (max if (rules.select == "Max") == up else min)(limits)
    return min(desired, limit) if up else max(desired, limit)
