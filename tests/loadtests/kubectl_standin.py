"""A stand-in for ``kubectl get hpa|deployment NAME -o json``: one HPA and its Deployment,
played over a real local server, for ``hpa_check`` without a cluster.

The load and its CPU are real: the server's process tree (``python -m service``) serves
every request, and its CPU seconds, read from /proc at each call, are shared evenly over the
pretend pods, as a Service spreads load (utilisation = cores used / (ready pods x CPU
request)). The control plane is not: every ``sync_period_s`` the documented algorithm
(``loadtests.hpa_model.Controller``) sets the replica count from that utilisation averaged
over the last ``metrics_window_s``, and a new pod turns ready ``pod_start_s`` later.

    python tests/loadtests/kubectl_standin.py --state DIR [--context C] --namespace NS \\
        get horizontalpodautoscaler NAME -o json

``DIR/cluster.json`` says what to play: ``{"hpa": <autoscaling/v2 object>, "server_pid": N,
"cpu_request_m": 100, "sync_period_s": 5, "metrics_window_s": 10, "pod_start_s": 5}``;
``DIR/state.json`` keeps the pods, the CPU samples and the controller between calls.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.procs import cpu_seconds, tree
from loadtests.hpa_model import Controller, HpaSpec


def _cpu_at(samples: list[list[float]], t: float) -> float:
    """CPU seconds at time t, interpolated between the samples around it."""
    before = [s for s in samples if s[0] <= t]
    after = [s for s in samples if s[0] >= t]
    if not before:
        return samples[0][1]
    if not after:
        return before[-1][1]
    (t0, c0), (t1, c1) = before[-1], after[0]
    return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)


def advance(cluster: dict[str, Any], state: dict[str, Any], now: float) -> None:
    """Sample the server's CPU, then run every sync due up to `now`."""
    spec = HpaSpec.from_object(cluster["hpa"])
    cpu = sum(cpu_seconds(p) for p in tree(int(cluster["server_pid"])))
    state.setdefault("samples", []).append([now, cpu])
    state["samples"] = [s for s in state["samples"] if s[0] >= now - 600]
    state.setdefault("created", [now - 3600.0] * spec.min_replicas)
    state.setdefault("last_sync", now)
    controller = Controller(spec)
    controller.history = [tuple(h) for h in state.get("history", [])]
    controller.events = [tuple(e) for e in state.get("events", [])]
    sync, window = float(cluster["sync_period_s"]), float(cluster["metrics_window_s"])
    start = float(cluster["pod_start_s"])
    request = float(cluster["cpu_request_m"]) / 1000
    while state["last_sync"] + sync <= now:
        t = state["last_sync"] + sync
        created = state["created"]
        ready = sum(1 for c in created if t - c >= start)
        used = (_cpu_at(state["samples"], t) - _cpu_at(state["samples"], t - window)) / window
        utilisation = 100 * used / (max(1, ready) * request)
        desired = controller.sync(t, len(created), ready, utilisation)
        if desired > len(created):
            created += [t] * (desired - len(created))
        elif desired < len(created):
            created[:] = sorted(created)[:desired]
        state.update(last_sync=t, utilisation=utilisation, desired=desired)
    state["history"] = [list(h) for h in controller.history]
    state["events"] = [list(e) for e in controller.events]


def render(cluster: dict[str, Any], state: dict[str, Any], kind: str, now: float) -> Any:
    created = state["created"]
    ready = sum(1 for c in created if now - c >= float(cluster["pod_start_s"]))
    if kind.startswith("horizontalpodautoscaler") or kind == "hpa":
        hpa = copy.deepcopy(cluster["hpa"])
        status: dict[str, Any] = {
            "currentReplicas": len(created),
            "desiredReplicas": state.get("desired", len(created)),
        }
        if "utilisation" in state:
            status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": round(state["utilisation"])},
                    },
                }
            ]
        hpa["status"] = status
        return hpa
    name = cluster["hpa"]["spec"]["scaleTargetRef"]["name"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": len(created)},
        "status": {"replicas": len(created), "readyReplicas": ready, "availableReplicas": ready},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--context")
    p.add_argument("--namespace", "-n")
    p.add_argument("verb", choices=["get"])
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("-o", dest="output", choices=["json"], required=True)
    args = p.parse_args(argv)
    cluster = json.loads((args.state / "cluster.json").read_text())
    state_path = args.state / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    now = time.time()
    advance(cluster, state, now)
    state_path.write_text(json.dumps(state))
    print(json.dumps(render(cluster, state, args.kind, now)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
