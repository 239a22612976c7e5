"""Capacity plan from measurements on this machine: ``python -m loadtests.capacity``.

Measures, with the pod's real settings (the chart's ``api.config``: workers, torch threads)
and the locustfile's mix, a server pinned to one core with Locust on the others:

1. one worker at saturation (closed loop): its requests/s and CPU seconds per request;
2. a sweep of offered rates at fixed shares of the pod's CPU request (30 %, 50 %, the HPA's
   target, 80 %, 90 %; those that fit on the core): achieved requests/s, p50/p95/p99, CPU;
3. the pod's resident memory (gunicorn master and workers) after the load.

From these and the chart's values (``values.yaml`` under ``--values``) it prints: requests/s
per pod at the HPA's target, replicas for ``--peak-rps`` and in-flight requests (Little's
law, L = lambda x W), the recommended minReplicas, maxReplicas, target and CPU and memory
requests, and how long the HPA takes to absorb a step from ``--base-rps`` to ``--peak-rps``
(``loadtests.hpa_model.simulate``: a planning aid beside a real timeline, never a
substitute for one). The arithmetic is in pure functions (``plan``) tested on hand-made
figures; machine speed varies from day to day, so only one run's figures belong together.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.cpu import CpuWatch
from harness.procs import rss_mib
from harness.server import Server
from loadtests.hpa_model import HpaSpec, simulate
from loadtests.local import locust_argv, serve, split_cores

__all__ = [
    "Chart",
    "Figures",
    "Level",
    "Plan",
    "cpu_cores",
    "littles_law",
    "main",
    "memory_mib",
    "plan",
    "pod_rps_at",
    "render",
]

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "dimtensor"
DEFAULT_VALUES = CHART / "values-inference.yaml"
LEVELS = (0.3, 0.5, 0.8, 0.9)  # shares of the CPU request, besides the HPA's target


def cpu_cores(quantity: str | int | float) -> float:
    """A Kubernetes CPU quantity in cores: ``"500m"`` -> 0.5, ``"2"`` -> 2.0."""
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_mib(quantity: str | int) -> float:
    """A Kubernetes memory quantity in MiB: ``"1Gi"`` -> 1024, ``"512Mi"`` -> 512."""
    text = str(quantity)
    for suffix, factor in (("Ki", 1 / 1024), ("Mi", 1.0), ("Gi", 1024.0), ("Ti", 1024.0**2)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    for suffix, factor in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor / 2**20
    return float(text) / 2**20


@dataclass(frozen=True)
class Chart:
    """The chart's API values that the plan judges (defaults merged with a preset)."""

    workers: int
    torch_threads: int
    cpu_request: float  # cores
    cpu_limit: float | None
    memory_request_mib: float
    memory_limit_mib: float | None
    hpa: HpaSpec

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Chart:
        api = values["api"]
        res, auto = api["resources"], api["autoscaling"]
        behavior = auto.get("behavior") or {}
        hpa = {
            "spec": {
                "minReplicas": auto["minReplicas"],
                "maxReplicas": auto["maxReplicas"],
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": auto["targetCPUUtilizationPercentage"],
                            },
                        },
                    }
                ],
                "behavior": {
                    d: {
                        "stabilizationWindowSeconds": b["stabilizationWindowSeconds"],
                        "selectPolicy": b["selectPolicy"],
                        "policies": [
                            {
                                "type": p["type"],
                                "value": p["value"],
                                "periodSeconds": p["periodSeconds"],
                            }
                            for p in b["policies"]
                        ],
                    }
                    for d, b in behavior.items()
                },
            }
        }
        limits = res.get("limits") or {}
        return cls(
            workers=int(api["config"]["webConcurrency"]),
            torch_threads=int(api["config"]["torchThreads"]),
            cpu_request=cpu_cores(res["requests"]["cpu"]),
            cpu_limit=cpu_cores(limits["cpu"]) if "cpu" in limits else None,
            memory_request_mib=memory_mib(res["requests"]["memory"]),
            memory_limit_mib=memory_mib(limits["memory"]) if "memory" in limits else None,
            hpa=HpaSpec.from_object(hpa),
        )


def chart_values(preset: Path) -> dict[str, Any]:
    """values.yaml with the preset on top (maps merge, everything else replaces)."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {k: merge(base.get(k), top[k]) if k in top else base[k] for k in base | top}
        return top

    defaults = yaml.safe_load((preset.parent / "values.yaml").read_text(encoding="utf-8"))
    merged: dict[str, Any] = merge(defaults, yaml.safe_load(preset.read_text(encoding="utf-8")))
    return merged


@dataclass(frozen=True)
class Level:
    """One measured load level."""

    share: float  # offered load as a share of the CPU request (0.65: the HPA target at 65 %)
    offered_rps: float
    rps: float
    cpu_cores: float  # the server's CPU use, in cores
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


@dataclass(frozen=True)
class Figures:
    """What one run measured."""

    machine: str
    saturated_rps: float  # one worker, closed loop
    saturated_cpu_cores: float
    cpu_s_per_request: float
    levels: tuple[Level, ...]
    rss_mib: float  # the pod's processes after the load
    generator_busiest_percent: float  # Locust's busiest process during the saturation run
    load_average: tuple[float, float] = (0.0, 0.0)  # the machine's 1-min load, before and after

    @property
    def worker_cores(self) -> float:
        """What one worker can use: a full core (one event loop; the GIL), or more if seen."""
        return max(1.0, self.saturated_cpu_cores)

    @property
    def contended(self) -> bool:
        """The worker did not reach a full core although Locust had room: others competed."""
        return self.saturated_cpu_cores < 0.9 and self.generator_busiest_percent < 90


def pod_rps_at(figures: Figures, cpu_request: float, utilisation_percent: float) -> float:
    """Requests/s a pod serves at `utilisation_percent` of its CPU request."""
    return utilisation_percent / 100 * cpu_request / figures.cpu_s_per_request


def littles_law(rate_rps: float, latency_ms: float) -> float:
    """L = lambda x W: requests in flight at `rate_rps` with mean latency `latency_ms`."""
    return rate_rps * latency_ms / 1000


@dataclass(frozen=True)
class Plan:
    """The answers, each with the figure it comes from."""

    pod_rps_at_target: float
    replicas_for_peak: int
    in_flight_per_pod: float
    in_flight_at_peak: float
    p95_at_target_ms: float | None
    target_percent: int
    target_reason: str
    min_replicas: int
    max_replicas: int
    cpu_request: float
    memory_request_mib: int
    memory_limit_mib: int
    absorb_s: float | None
    absorb_peak_utilisation: float


def _nearest_level(figures: Figures, request: float, percent: float) -> Level | None:
    """The level whose measured utilisation of `request` was nearest `percent`."""
    return min(
        figures.levels, key=lambda lv: abs(100 * lv.cpu_cores / request - percent), default=None
    )


def plan(
    figures: Figures,
    chart: Chart,
    *,
    peak_rps: float,
    base_rps: float,
    p95_ms: float,
    surge: float = 0.5,
    sync_s: float = 15.0,
    metrics_delay_s: float = 60.0,
    pod_start_s: float = 30.0,
) -> Plan:
    """The capacity plan from measured figures and the chart's values (pure arithmetic)."""
    target = chart.hpa.cpu_target_percent or 100
    at_target = _nearest_level(figures, chart.cpu_request, target)
    pod_rps = pod_rps_at(figures, chart.cpu_request, target)
    if at_target is not None and at_target.rps > 0 and at_target.cpu_cores > 0:
        # the CPU cost measured at the target's own rate and connection count (a closed loop
        # of few connections costs less per request than many paced clients do)
        pod_rps = target / 100 * chart.cpu_request * at_target.rps / at_target.cpu_cores
    mean_ms = at_target.mean_ms if at_target else 0.0
    # The target: the highest measured share whose p95 meets the objective, and no higher than
    # what leaves room for a `surge` above it on the pods already running while new ones start
    # (a worker tops out at its saturation CPU).
    ceiling = 100 * figures.worker_cores / chart.cpu_request / (1 + surge)
    meeting = [
        100 * lv.cpu_cores / chart.cpu_request for lv in figures.levels if lv.p95_ms <= p95_ms
    ]
    best = min(max(meeting, default=0.0), ceiling)
    recommended = int(5 * round(best / 5))
    reason = (
        f"p95 <= {p95_ms:g} ms up to {max(meeting, default=0):.0f} % of the request; "
        f"a {surge:.0%} surge on running pods needs <= {ceiling:.0f} %"
    )
    needed_base = math.ceil(base_rps / pod_rps) if pod_rps else 0
    min_replicas = max(2, needed_base) + 1  # the PDB lets one pod go at a time
    max_replicas = max(min_replicas, math.ceil(peak_rps / pod_rps) + 1) if pod_rps else 0
    cpu_request = round(figures.worker_cores * chart.workers, 1)
    memory_request = int(128 * math.ceil(1.5 * figures.rss_mib / 128))
    step = simulate(
        chart.hpa,
        lambda t: base_rps if t < 60 else peak_rps,
        pod_rps * 100 / target,
        start_replicas=max(chart.hpa.min_replicas, math.ceil(base_rps / pod_rps)),
        seconds=60 + 1800,
        sync_s=sync_s,
        metrics_delay_s=metrics_delay_s,
        pod_start_s=pod_start_s,
        absorb_after_s=60,
    )
    return Plan(
        pod_rps_at_target=pod_rps,
        replicas_for_peak=math.ceil(peak_rps / pod_rps) if pod_rps else 0,
        in_flight_per_pod=littles_law(pod_rps, mean_ms),
        in_flight_at_peak=littles_law(peak_rps, mean_ms),
        p95_at_target_ms=at_target.p95_ms if at_target else None,
        target_percent=recommended,
        target_reason=reason,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_request=max(0.1, cpu_request),
        memory_request_mib=memory_request,
        memory_limit_mib=2 * memory_request,
        absorb_s=None if step.absorbed_at_s is None else step.absorbed_at_s - 60,
        absorb_peak_utilisation=step.peak_utilisation,
    )


# --- measuring ------------------------------------------------------------------------------


def _aggregated(prefix: Path) -> dict[str, str]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open(newline="", encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")


def _run_load(
    server: Server,
    cores: list[int] | None,
    work: Path,
    name: str,
    *,
    users: int,
    user_rps: float,
    seconds: float,
    processes: int,
) -> tuple[dict[str, str], float, float]:
    """One Locust run; (aggregated stats row, server cores used, Locust's busiest %)."""
    prefix = work / name
    argv = locust_argv(
        server.url,
        processes,
        "--load-shape=steady",
        f"--shape-users={users}",
        f"--shape-seconds={seconds}",
        f"--user-rps={user_rps}",
        f"--csv={prefix}",
        "--only-summary",
    )
    server_watch = CpuWatch(server.proc.pid, skip=2.0).start()
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed argv
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    generator_watch = CpuWatch(proc.pid, skip=3.0).start()
    proc.wait(timeout=seconds + 120)
    generator_watch.stop()
    server_watch.stop()
    return _aggregated(prefix), server_watch.total() / 100, generator_watch.busiest()


def measure(chart: Chart, seconds: float, work: Path) -> Figures:
    """Run the server on one core and measure it (see the module docstring): one worker at
    saturation, then the pod's settings (the same server when a pod is one worker)."""
    from loadtests.slo import machine

    before = os.getloadavg()[0]
    server_cores, load_cores = split_cores(1)
    shared = server_cores == load_cores
    pinned = None if shared else load_cores
    processes = 1 if shared else max(1, len(load_cores))

    def load(server: Server, name: str, users: int, user_rps: float) -> Any:
        return _run_load(
            server,
            pinned,
            work,
            name,
            users=users,
            user_rps=user_rps,
            seconds=seconds,
            processes=processes,
        )

    def start(workers: int, name: str) -> Any:
        return serve(
            work / name,
            workers=workers,
            torch_threads=chart.torch_threads,
            cores=None if shared else server_cores,
        )

    with start(1, "worker") as worker:
        load(worker, "warmup", 16, 0)
        row, sat_cores, busiest = load(worker, "saturation", 32, 0)
        sat_rps = float(row["Requests/s"])
        cost = sat_cores / sat_rps if sat_rps else float("inf")
        pod_ctx = start(chart.workers, "pod") if chart.workers != 1 else nullcontext(worker)
        with pod_ctx as pod:
            if pod is not worker:
                load(pod, "pod-warmup", 16, 0)
            target = (chart.hpa.cpu_target_percent or 100) / 100
            levels = []
            for share in sorted({*LEVELS, target}):
                if share * chart.cpu_request > 0.95:
                    continue  # more than the server's one core can show
                rate = share * chart.cpu_request / cost
                users = max(1, math.ceil(rate / 10))
                row, cores_used, _ = load(pod, f"level-{share:.2f}", users, rate / users)
                levels.append(
                    Level(
                        share,
                        rate,
                        float(row["Requests/s"]),
                        cores_used,
                        float(row["50%"]),
                        float(row["95%"]),
                        float(row["99%"]),
                        float(row["Average Response Time"]),
                    )
                )
            rss = rss_mib(pod.pids())
    after = os.getloadavg()[0]
    return Figures(
        machine(), sat_rps, sat_cores, cost, tuple(levels), rss, busiest, (before, after)
    )


def render(figures: Figures, chart: Chart, p: Plan, args: argparse.Namespace) -> str:
    """The plan as Markdown: measurements, answers, and the chart's values beside them."""
    hpa = chart.hpa
    lines = [
        f"Machine: {figures.machine}. Pod settings from {args.values.name}: "
        f"{chart.workers} worker(s), {chart.torch_threads} torch thread(s), CPU request "
        f"{chart.cpu_request:g}, HPA target {hpa.cpu_target_percent} %.",
        "",
        f"One worker at saturation (closed loop, 32 users): {figures.saturated_rps:,.0f} req/s "
        f"using {figures.saturated_cpu_cores:.2f} cores: {1000 * figures.cpu_s_per_request:.3f} "
        f"CPU ms per request (Locust's busiest process {figures.generator_busiest_percent:.0f} %"
        " of a core). Pod RSS after the load (master and workers): "
        f"{figures.rss_mib:.0f} MiB. Load average (1 min) {figures.load_average[0]:.1f} "
        f"before, {figures.load_average[1]:.1f} after.",
        "",
        "| planned share of the request | offered req/s | achieved req/s "
        "| server CPU cores (share) | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if figures.contended:
        lines[2:2] = [
            f"**Contended run**: the worker used {figures.saturated_cpu_cores:.2f} of its core at "
            "saturation while Locust had room: other processes competed for this machine. The "
            "CPU cost per request stands; the rates and latencies do not. Run again when quiet.",
            "",
        ]
    if figures.generator_busiest_percent > 90:
        lines[2:2] = [
            f"The saturation run was partly the generator's (Locust's busiest process "
            f"{figures.generator_busiest_percent:.0f} % of a core): the worker serves at least "
            "that rate. The CPU cost per request, and everything planned from it, stands.",
            "",
        ]
    for lv in figures.levels:
        lines.append(
            f"| {lv.share:.0%} | {lv.offered_rps:,.0f} | {lv.rps:,.0f} | {lv.cpu_cores:.2f} "
            f"({100 * lv.cpu_cores / chart.cpu_request:.0f} %) | "
            f"{lv.p50_ms:g} | {lv.p95_ms:g} | {lv.p99_ms:g} | {lv.mean_ms:.1f} |"
        )
    limit = "none" if chart.cpu_limit is None else f"{chart.cpu_limit:g}"
    lines += [
        "",
        f"- **One pod at the HPA target** ({hpa.cpu_target_percent} % of {chart.cpu_request:g} "
        f"CPU, at the CPU cost measured at that rate): {p.pod_rps_at_target:,.0f} req/s, p95 "
        f"{p.p95_at_target_ms if p.p95_at_target_ms is not None else '-'} ms.",
        f"- **The chart's bounds** at that rate: minReplicas {hpa.min_replicas} serve "
        f"{(hpa.min_replicas - 1) * p.pod_rps_at_target:,.0f} req/s with one pod drained, "
        f"maxReplicas {hpa.max_replicas} serve {hpa.max_replicas * p.pod_rps_at_target:,.0f} "
        "req/s at the target.",
        f"- **Peak {args.peak_rps:,.0f} req/s**: {p.replicas_for_peak} pods at the target. "
        f"Little's law (L = lambda x W, W the mean latency at the target): "
        f"{p.in_flight_per_pod:.1f} requests in flight per pod, {p.in_flight_at_peak:.0f} at "
        "the peak (what a closed-loop client pool needs to offer it).",
        f"- **Step {args.base_rps:,.0f} -> {args.peak_rps:,.0f} req/s** with the chart's HPA "
        f"(sync 15 s, metrics delay 60 s, pod start 30 s): absorbed after "
        f"{'never' if p.absorb_s is None else f'{p.absorb_s:.0f} s'}; meanwhile the demand on "
        f"the running pods peaks at {p.absorb_peak_utilisation:.0f} % of their CPU request "
        f"(a worker serves at most {100 * figures.worker_cores / chart.cpu_request:.0f} %"
        + (
            "; the rest queues until new pods are ready)."
            if p.absorb_peak_utilisation > 100 * figures.worker_cores / chart.cpu_request
            else ")."
        ),
        "",
        "| value | recommended | chart | from |",
        "|---|---|---|---|",
        f"| targetCPUUtilizationPercentage | {p.target_percent} | {hpa.cpu_target_percent} | "
        f"{p.target_reason} |",
        f"| minReplicas | {p.min_replicas} | {hpa.min_replicas} | base {args.base_rps:g} "
        "req/s at the target, at least 2, plus one the PDB may drain |",
        f"| maxReplicas | {p.max_replicas} | {hpa.max_replicas} | peak {args.peak_rps:g} "
        "req/s at the target plus one |",
        f"| resources.requests.cpu | {p.cpu_request:g} | {chart.cpu_request:g} | what "
        f"{chart.workers} worker(s) can use: a full core each (measured "
        f"{figures.saturated_cpu_cores:.2f} at saturation; limit: {limit}) |",
        f"| resources.requests.memory | {p.memory_request_mib}Mi | "
        f"{chart.memory_request_mib:.0f}Mi | 1.5 x the pod's RSS, in 128 MiB steps |",
        f"| resources.limits.memory | {p.memory_limit_mib}Mi | "
        f"{chart.memory_limit_mib or 0:.0f}Mi | 2 x the request |",
        "",
        f"Memory: the pod's RSS is {100 * figures.rss_mib / chart.memory_request_mib:.0f} % of "
        f"the chart's request; the HPA's memory target is "
        f"{args.memory_target or 'not set'}{' %' if args.memory_target else ''} (RSS does not "
        "grow with load here, so a memory target above the idle share never scales on its own, "
        "and one below it would hold the HPA at maxReplicas).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--values", type=Path, default=DEFAULT_VALUES, help="chart preset")
    parser.add_argument("--peak-rps", type=float, default=20000.0, help="peak request rate")
    parser.add_argument("--base-rps", type=float, default=1000.0, help="everyday request rate")
    parser.add_argument("--p95-ms", type=float, default=50.0, help="p95 latency objective")
    parser.add_argument("--surge", type=float, default=0.5, help="growth absorbed before scaling")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--figures", type=Path, help="reuse a figures.json instead of measuring")
    parser.add_argument("--out", type=Path, default=Path("out/capacity"), help="report folder")
    args = parser.parse_args(argv)
    values = chart_values(args.values)
    chart = Chart.from_values(values)
    args.memory_target = values["api"]["autoscaling"].get("targetMemoryUtilizationPercentage")
    if args.figures:
        raw = json.loads(args.figures.read_text(encoding="utf-8"))
        raw["levels"] = tuple(Level(**lv) for lv in raw["levels"])
        raw["load_average"] = tuple(raw.get("load_average", (0.0, 0.0)))
        figures = Figures(**raw)
    else:
        with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
            figures = measure(chart, args.seconds, Path(tmp))
    p = plan(
        figures,
        chart,
        peak_rps=args.peak_rps,
        base_rps=args.base_rps,
        p95_ms=args.p95_ms,
        surge=args.surge,
    )
    text = render(figures, chart, p, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(asdict(figures), indent=2), "utf-8")
    (args.out / "plan.json").write_text(json.dumps(asdict(p), indent=2, default=str), "utf-8")
    (args.out / "capacity.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
