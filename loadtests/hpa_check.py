"""Does the HPA scale out in time, hold still, and scale back in? ``python -m loadtests.hpa_check``.

Against a cluster::

    python -m loadtests.hpa_check --url http://localhost:8080 --context kind-dt \\
        --namespace dimtensor --hpa dimtensor-api --pod-rps 180

reads the HorizontalPodAutoscaler (``hpa.json``) and its Deployment with ``kubectl get -o
json``, runs the locustfile with a plan of phases ``low`` -> ``high`` -> ``low``, polls the
HPA and the Deployment every ``--poll`` seconds, and writes into ``--out``: ``hpa.json``,
``timeline.csv`` (``loadtests.hpa_verdict.COLUMNS``), ``plan.json``, ``hpa-check.png`` and
Locust's reports, then prints one line per criterion (``loadtests.hpa_verdict``) and exits
0 only when all hold.

The high rate is calibrated so the expected replica count is known in advance, as
Kubernetes' e2e tests do: ``pods_worth(N) x`` the requests/s one pod serves at the HPA's target
(``--pod-rps``: ``python -m loadtests.capacity`` prints it for a CPU request and target).
Without ``--pod-rps`` the first low phase runs at ``--low-rps`` and the per-pod rate is
measured from it (the HPA's reported utilisation at a known rate and pod count). The low
rate is half of what ``minReplicas`` pods serve at the target, so it must not scale.

Replay, no cluster: ``python -m loadtests.hpa_check --replay DIR`` judges ``DIR/hpa.json``
and ``DIR/timeline.csv`` (and ``DIR/plan.json`` when present) the same way, and draws the
plot. Exit codes (the project's one table, ``jobkit.exits``): 0 every criterion holds, 5 one
does not, 2 bad arguments or inputs (no CPU target, missing files), 7 the load generator
failed, 1 a crash.

kubectl, not the Kubernetes Python client: the same kubeconfig, contexts and credential
plugins as the user's own ``kubectl``, no extra dependencies, and a stand-in executable can
play a cluster in tests (``--kubectl`` takes a command line).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jobkit.exits import ExitCode
from loadtests.hpa_model import HpaSpec, scale_up_steps
from loadtests.hpa_plot import plot
from loadtests.hpa_verdict import (
    Criterion,
    Expectation,
    Row,
    Timing,
    calibrate,
    expected_from_calibration,
    judge,
    read_timeline,
    write_timeline,
)
from loadtests.local import locust_argv

__all__ = ["Kube", "Plan", "interval", "main", "pods_worth", "replay"]


class Kube:
    """``kubectl get -o json`` in one context and namespace."""

    def __init__(self, kubectl: str, context: str | None, namespace: str) -> None:
        self.argv = shlex.split(kubectl)
        if context:
            self.argv += ["--context", context]
        self.argv += ["--namespace", namespace]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        result = subprocess.run(  # noqa: S603 - the user's kubectl, fixed verbs
            [*self.argv, "get", kind, name, "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl get {kind} {name}: {result.stderr.strip()}")
        doc: dict[str, Any] = json.loads(result.stdout)
        return doc


@dataclass
class Plan:
    """The load plan and what it should lead to."""

    low_rps: float
    high_rps: float | None
    low_s: float
    high_s: float
    scale_in_s: float
    pod_rps: float | None
    expected_high: int
    source: str
    timing: dict[str, float] = field(default_factory=dict)

    def text(self, first_low_s: float | None = None) -> str:
        """The locustfile's ``--load-plan``; an open-ended low phase until calibrated."""
        if self.high_rps is None:
            return f"low:{10 * 86400}:{self.low_rps:g}"
        low = self.low_s if first_low_s is None else first_low_s
        return (
            f"low:{low:g}:{self.low_rps:g},high:{self.high_s:g}:{self.high_rps:g},"
            f"low:{self.scale_in_s:g}:{self.low_rps:g}"
        )


def pods_worth(expected: int, tolerance: float) -> float:
    """How many pods' worth of load lands the HPA on `expected` replicas with the widest
    margin: the middle of the interval where rounding up gives `expected` (above N - 1) and
    N - 1 pods are past the tolerance (above (1 + tolerance) x (N - 1)) while N are not.
    Kubernetes' e2e tests use N - 0.5 for a CPU consumer that burns exact millicores; the CPU
    of real requests is noisier, and N - 0.5 leaves N - 1 pods only 6 % past a 10 %
    tolerance when N is 4."""
    low = max(expected - 1, (1 + tolerance) * (expected - 1))
    return (low + expected) / 2


def _percentile(hist: dict[int, int], q: float) -> float:
    total = sum(hist.values())
    if total <= 0:
        return 0.0
    running = 0
    for ms in sorted(hist):
        running += hist[ms]
        if running >= q * total:
            return float(ms)
    return float(max(hist))


def interval(prev: dict[str, Any], now: dict[str, Any]) -> tuple[float, float, int]:
    """(requests/s, p95 ms, failures) between two of the locustfile's snapshots."""
    dt = max(1e-9, now["t"] - prev["t"])
    before = {int(k): v for k, v in prev["response_times"].items()}
    hist = {int(k): v - before.get(int(k), 0) for k, v in now["response_times"].items()}
    hist = {k: v for k, v in hist.items() if v > 0}
    rps = (now["requests"] - prev["requests"]) / dt
    return rps, _percentile(hist, 0.95), now["failures"] - prev["failures"]


def _last_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            doc: dict[str, Any] = json.loads(line)
            return doc
        except ValueError:
            continue  # a line being written
    return None


def _cpu_utilization(hpa: dict[str, Any]) -> float | None:
    for metric in (hpa.get("status") or {}).get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            value = (resource.get("current") or {}).get("averageUtilization")
            return None if value is None else float(value)
    return None


def _row(
    t: float,
    snap: dict[str, Any],
    prev: dict[str, Any],
    hpa: dict[str, Any],
    deployment: dict[str, Any],
) -> Row:
    rps, p95, failures = interval(prev, snap)
    status = hpa.get("status") or {}
    return Row(
        t_s=round(t, 1),
        phase="high" if snap.get("phase") == "high" else "low",
        offered_rps=float(snap.get("offered_rps") or 0.0),
        rps=rps,
        p95_ms=p95,
        failures=int(failures),
        cpu_utilization=_cpu_utilization(hpa),
        desired_replicas=int(status.get("desiredReplicas", 0)),
        current_replicas=int(status.get("currentReplicas", 0)),
        ready_replicas=int((deployment.get("status") or {}).get("readyReplicas", 0)),
    )


def _timing(args: argparse.Namespace, recorded: dict[str, float] | None = None) -> Timing:
    base = dict(recorded or {})
    for key in ("sync_period_s", "metrics_resolution_s", "pod_start_s", "reaction_override_s"):
        flag = getattr(args, key, None)
        if flag is not None:
            base[key] = flag
    return Timing(**base)


def _report(criteria: list[Criterion]) -> int:
    for c in criteria:
        print(c.line())
    ok = all(c.ok for c in criteria)
    print("PASS: every criterion holds" if ok else "FAIL: see the lines above")
    return ExitCode.OK if ok else ExitCode.OBJECTIVE_MISSED


def replay(folder: Path, out: Path, args: argparse.Namespace) -> int:
    """The verdict and the plot from a recorded ``hpa.json`` and ``timeline.csv``."""
    try:
        hpa = json.loads((folder / "hpa.json").read_text(encoding="utf-8"))
        rows = read_timeline(folder / "timeline.csv")
    except (OSError, ValueError) as exc:
        print(f"hpa_check: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    plan_path = folder / "plan.json"
    recorded = json.loads(plan_path.read_text(encoding="utf-8")) if plan_path.is_file() else {}
    spec = HpaSpec.from_object(hpa)
    if spec.cpu_target_percent is None:
        print("hpa_check: the HPA has no CPU utilisation target", file=sys.stderr)
        return ExitCode.CONFIG
    expect = _expectation(args, spec, rows, recorded)
    if expect is None:
        print(
            "hpa_check: no expected count: give --expect, or a timeline whose first low "
            "phase reports CPU utilisation",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    timing = _timing(args, recorded.get("timing"))
    criteria = judge(hpa, rows, expect, timing)
    png = plot(rows, spec, expect, out / "hpa-check.png", f"HPA check replay: {folder.name}")
    print(f"plot: {png}")
    return _report(criteria)


def _expectation(
    args: argparse.Namespace, spec: HpaSpec, rows: list[Row], recorded: dict[str, Any]
) -> Expectation | None:
    if args.expect:
        low = spec.min_replicas
        return Expectation(low, args.expect, "--expect")
    if "expected_high" in recorded:
        return Expectation(spec.min_replicas, int(recorded["expected_high"]), recorded["source"])
    pod_rps = args.pod_rps or calibrate(rows, spec.cpu_target_percent or 100)
    return expected_from_calibration(spec, rows, pod_rps) if pod_rps else None


def live(args: argparse.Namespace) -> int:
    """Run the plan against a cluster and judge it."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    kube = Kube(args.kubectl, args.context, args.namespace)
    hpa = kube.get("horizontalpodautoscaler", args.hpa)
    (out / "hpa.json").write_text(json.dumps(hpa, indent=2), encoding="utf-8")
    spec = HpaSpec.from_object(hpa)
    if spec.cpu_target_percent is None:
        print("hpa_check: the HPA has no CPU utilisation target", file=sys.stderr)
        return ExitCode.CONFIG
    deployment_name = hpa["spec"]["scaleTargetRef"]["name"]
    timing = _timing(args)
    plan = _plan(args, spec, timing)
    print(
        f"plan: {plan.text()} (expect {spec.min_replicas} -> {plan.expected_high} replicas; "
        f"reaction bound {timing.reaction_s:g} s)",
        flush=True,
    )
    plan_file = out / "load-plan.txt"
    plan_file.write_text(plan.text(), encoding="utf-8")
    snapshots = out / "locust-timeline.jsonl"
    snapshots.unlink(missing_ok=True)
    argv = locust_argv(
        args.url,
        args.processes,
        "--load-shape=plan",
        f"--load-plan=@{plan_file}",
        f"--user-rps={args.user_rps}",
        f"--reconnect-every={args.reconnect_every}",
        f"--timeline-file={snapshots}",
        f"--csv={out / 'locust'}",
        f"--html={out / 'report.html'}",
        "--only-summary",
    )
    env = {**os.environ, **({"LOCUST_API_KEY": args.api_key} if args.api_key else {})}
    log = (out / "locust.log").open("w", encoding="utf-8")
    locust = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    rows: list[Row] = []
    try:
        rows = _poll(args, kube, spec, plan, plan_file, snapshots, deployment_name, locust, out)
    finally:
        if locust.poll() is None:
            locust.terminate()
        locust.wait(timeout=60)
        log.close()
    plan.timing = asdict(timing)
    record = {**asdict(plan), "expected_high": plan.expected_high}
    (out / "plan.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    if not rows:
        print(f"hpa_check: no load was measured; see {out / 'locust.log'}", file=sys.stderr)
        return ExitCode.GENERATOR_FAILED
    expect = Expectation(spec.min_replicas, plan.expected_high, plan.source)
    criteria = judge(hpa, rows, expect, timing)
    plot(rows, spec, expect, out / "hpa-check.png", f"HPA check: {args.hpa}")
    print(f"timeline: {out / 'timeline.csv'}; plot: {out / 'hpa-check.png'}")
    return _report(criteria)


def _plan(args: argparse.Namespace, spec: HpaSpec, timing: Timing) -> Plan:
    expected = args.expect or min(spec.max_replicas, spec.min_replicas + 2)
    steps = scale_up_steps(spec, spec.min_replicas, expected)
    period = max((p.period_s for p in spec.scale_up.policies), default=0)
    reach = timing.reaction_s + max(0, steps - 1) * max(period, timing.sync_period_s)
    low_s = args.low_seconds or timing.reaction_s + 60
    high_s = args.high_seconds or reach + 60
    scale_in_s = args.scale_in_seconds or spec.scale_down.stabilization_s + timing.reaction_s + 60
    if args.pod_rps:
        return Plan(
            0.5 * spec.min_replicas * args.pod_rps,
            pods_worth(expected, spec.tolerance) * args.pod_rps,
            low_s,
            high_s,
            scale_in_s,
            args.pod_rps,
            expected,
            "--pod-rps",
        )
    low_rps = args.low_rps or 10.0 * spec.min_replicas
    return Plan(low_rps, None, low_s, high_s, scale_in_s, None, expected, "calibrated")


def _poll(
    args: argparse.Namespace,
    kube: Kube,
    spec: HpaSpec,
    plan: Plan,
    plan_file: Path,
    snapshots: Path,
    deployment_name: str,
    locust: subprocess.Popen[bytes],
    out: Path,
) -> list[Row]:
    rows: list[Row] = []
    origin: float | None = None
    prev: dict[str, Any] | None = None
    misses = 0  # consecutive polls kubectl could not answer
    while True:
        time.sleep(args.poll)
        done = locust.poll() is not None
        snap = _last_snapshot(snapshots)
        if snap is None:
            if done:
                return rows
            continue
        origin = snap["t"] if origin is None else origin
        if prev is not None and snap["t"] > prev["t"]:
            try:
                hpa = kube.get("horizontalpodautoscaler", args.hpa)
                deployment = kube.get("deployment", deployment_name)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                misses += 1
                print(f"kubectl failed ({misses} in a row): {exc}", file=sys.stderr, flush=True)
                if misses >= 3:
                    raise RuntimeError("kubectl failed three polls in a row") from exc
                continue  # the next row covers this interval too
            misses = 0
            rows.append(_row(snap["t"] - origin, snap, prev, hpa, deployment))
            write_timeline(out / "timeline.csv", rows)
            r = rows[-1]
            print(
                f"{r.t_s:7.1f} s {r.phase:4} offered {r.offered_rps:6.1f} got {r.rps:7.1f} "
                f"req/s p95 {r.p95_ms:5.0f} ms fail {r.failures} cpu {r.cpu_utilization} "
                f"replicas {r.desired_replicas}/{r.current_replicas}/{r.ready_replicas}",
                flush=True,
            )
        prev = snap
        if plan.high_rps is None and snap["t"] - origin >= plan.low_s:
            _calibrate(plan, spec, rows, plan_file, snap["t"] - origin)
        if done:
            return rows


def _calibrate(plan: Plan, spec: HpaSpec, rows: list[Row], plan_file: Path, now: float) -> None:
    pod_rps = calibrate(rows, spec.cpu_target_percent or 100)
    if pod_rps is None:
        raise RuntimeError(
            "no CPU utilisation reported during the low phase: is metrics-server "
            "running, and does the HPA show a current CPU metric?"
        )
    plan.pod_rps = pod_rps
    plan.high_rps = round(pods_worth(plan.expected_high, spec.tolerance) * pod_rps, 1)
    plan.source = f"calibrated: {pod_rps:.1f} req/s per pod at the target"
    plan_file.write_text(plan.text(first_low_s=now + 2), encoding="utf-8")
    print(
        f"calibrated: {pod_rps:.1f} req/s per pod at {spec.cpu_target_percent} %; "
        f"high phase {plan.high_rps:g} req/s",
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    """The command line (kept apart from what runs it)."""
    p = argparse.ArgumentParser(
        prog="python -m loadtests.hpa_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--replay", type=Path, help="judge a recorded folder instead of a cluster")
    p.add_argument("--url", help="the API as this machine reaches it (ingress, port-forward)")
    p.add_argument("--context", help="kube context (default: the current one)")
    p.add_argument("--namespace", default="dimtensor")
    p.add_argument("--hpa", default="dimtensor-api", help="HorizontalPodAutoscaler name")
    p.add_argument("--kubectl", default="kubectl", help="kubectl command line")
    p.add_argument("--out", type=Path, help="output folder (default out/hpa-check)")
    p.add_argument("--pod-rps", type=float, help="requests/s one pod serves at the target")
    p.add_argument("--low-rps", type=float, help="low rate to calibrate from (no --pod-rps)")
    p.add_argument("--expect", type=int, help="replicas the high phase must reach")
    p.add_argument("--low-seconds", type=float, help="first low phase (must not scale)")
    p.add_argument("--high-seconds", type=float, help="high phase")
    p.add_argument("--scale-in-seconds", type=float, help="last low phase")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between polls")
    p.add_argument("--user-rps", type=float, default=2.0, help="requests/s per Locust user")
    p.add_argument(
        "--reconnect-every",
        type=int,
        default=20,
        help="new connection every N requests per user, so that a Service (L4) "
        "spreads load onto new pods (0: keep-alive)",
    )
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="Locust processes")
    p.add_argument("--api-key", default=os.environ.get("LOCUST_API_KEY", ""))
    p.add_argument("--sync-period", dest="sync_period_s", type=float, help="HPA sync period (15 s)")
    p.add_argument(
        "--metrics-resolution",
        dest="metrics_resolution_s",
        type=float,
        help="metrics-server resolution (15 s)",
    )
    p.add_argument(
        "--pod-start", dest="pod_start_s", type=float, help="pod created -> ready (30 s)"
    )
    p.add_argument(
        "--reaction-bound",
        dest="reaction_override_s",
        type=float,
        help="override the reaction bound (s)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.replay:
        return replay(args.replay, args.out or Path("out/hpa-replay"), args)
    if not args.url:
        print("hpa_check: --url is required against a cluster (or --replay DIR)", file=sys.stderr)
        return ExitCode.CONFIG
    args.out = args.out or Path("out/hpa-check")
    try:
        return live(args)
    except RuntimeError as exc:
        print(f"hpa_check: {exc}", file=sys.stderr)
        return ExitCode.CONFIG


if __name__ == "__main__":
    sys.exit(main())
