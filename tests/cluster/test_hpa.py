"""The HorizontalPodAutoscaler on a real cluster, judged by ``python -m loadtests.hpa_check``.

The API tier is installed with autoscaling on (1 to 3 pods, one gunicorn worker and one torch
thread each, 100m CPU requested, a 50 % target, so that a load this two-core machine can offer
pushes the utilisation past the target), and the check drives the locustfile's mix (units in
every request) through the Service as a user's client would: a NodePort on loopback, each
Locust user re-opening its connection every 20 requests so that kube-proxy spreads new
connections onto new pods. Low (the per-pod rate is calibrated from the HPA's own utilisation
reading), high (the rate that lands on 3 pods), low again. The test passes only when the
verdict does: nothing scales in the first low phase, replicas rise within the bounds, no
request fails, and they come back down to minReplicas after the load drops.

Its twin is the same run with an HPA that cannot scale (maxReplicas equal to minReplicas): the
verdict must fail, and say why on the scale-out's lines. That is what shows the check can fail
on a real cluster, not only on hand-made timelines.

Test settings, not production ones (docs/loadtests.md, "On the project's test cluster"): the
controller-manager's HPA sync every 5 s (scripts/cluster.sh), metrics-server at a 10 s
resolution, and the chart's ``behavior`` shortened below (scale-down window 30 s instead of the
chart's 300 s). The verdict's bounds follow those clocks (``--sync-period``,
``--metrics-resolution``, ``--pod-start``); the test asserts no timing of its own.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobkit.exits import ExitCode
from loadtests.hpa_verdict import Row, read_timeline
from tests.cluster.kube import REPO, TOOLS_BIN, Cluster, poll

pytestmark = pytest.mark.timeout(900)

MIN_REPLICAS = 1
MAX_REPLICAS = 3
TARGET_PERCENT = 50
CPU_REQUEST_M = 100

# What the API tier gets in both runs; maxReplicas is the one thing the twin changes.
HPA_VALUES: dict[str, Any] = {
    "api": {
        "service": {"type": "NodePort"},
        "config": {"webConcurrency": 1, "torchThreads": 1},
        "autoscaling": {
            "enabled": True,
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "targetCPUUtilizationPercentage": TARGET_PERCENT,
            "targetMemoryUtilizationPercentage": None,
            # Test settings: out at once (two pods per 15 s: 1 -> 3 is one step), in after a
            # 30 s window and all the way in one step, so the run fits a few minutes.
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 30,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
            },
        },
    }
}

# The check's plan and the cluster's clocks (scripts/cluster.sh: HPA sync 5 s, metrics-server
# --metric-resolution 10 s; a pod of the imported image is ready in about 5 s, 15 s allowed).
# Low 25 req/s is about half of what one pod serves at the target here (a quarter of its
# request): the first low phase holds still, the per-pod rate is calibrated from it, and after
# the high phase the three pods' load plus their idle CPU stays under one pod's target, so the
# HPA can go back to minReplicas (at 40 req/s it went 3 -> 2 and lingered there). One Locust
# process: the generator shares the two cores with the pods.
CHECK_ARGS = (
    "--expect", str(MAX_REPLICAS),
    "--low-rps", "25",
    "--low-seconds", "60",
    "--high-seconds", "90",
    "--scale-in-seconds", "120",
    "--reconnect-every", "20",
    "--processes", "1",
    "--sync-period", "5",
    "--metrics-resolution", "10",
    "--pod-start", "15",
)  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One run of ``python -m loadtests.hpa_check`` and what it left in ``out``."""

    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def verdict(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]

    @property
    def rows(self) -> list[Row]:
        return read_timeline(self.out / "timeline.csv")

    def report(self) -> str:
        head = f"hpa_check exited {self.returncode} (files in {self.out})"
        return f"{head}\n{self.stdout}\n{self.stderr}"


def cpu_millis(quantity: str) -> int:
    """A CPU quantity (``2``, ``1.5``, ``250m``) in millicores."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


def unrequested_cpu_m(cluster: Cluster) -> tuple[int, list[str]]:
    """The node's allocatable CPU less what its pods request (terminating ones included: the
    scheduler counts them until they are gone), and who requests it."""
    (node,) = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    free = cpu_millis(node["status"]["allocatable"]["cpu"])
    holders = []
    pods = json.loads(cluster.kubectl("get", "pods", "-A", "-o", "json"))["items"]
    for pod in pods:
        if pod["status"].get("phase") in {"Succeeded", "Failed"}:
            continue
        containers = pod["spec"]["containers"]
        asked = sum(
            cpu_millis(c.get("resources", {}).get("requests", {}).get("cpu", "0"))
            for c in containers
        )
        if asked:
            free -= asked
            meta = pod["metadata"]
            holders.append(f"{meta['namespace']}/{meta['name']} {asked}m")
    return free, holders


def room_for(cluster: Cluster, pods: int) -> None:
    """Waits until the node can schedule `pods` API pods: a scale-out the scheduler cannot place
    would fail the verdict for a reason that is not the HPA's (earlier tests' namespaces may
    still be terminating)."""
    need = pods * CPU_REQUEST_M

    def probe() -> int | None:
        free, _ = unrequested_cpu_m(cluster)
        return free if free >= need else None

    try:
        poll(f"{need}m of unrequested CPU on the node", probe, timeout=300, interval=5)
    except AssertionError as exc:
        _, holders = unrequested_cpu_m(cluster)
        raise AssertionError(f"{exc}; CPU requested by: {', '.join(holders)}") from None


def hpa_settled(cluster: Cluster, namespace: str, hpa: str, deployment: str) -> bool | None:
    """The HPA reads a CPU utilisation and holds minReplicas, all of them ready: the pod's
    start-up CPU is out of the window and the first low phase starts from a still state."""
    status = cluster.get("horizontalpodautoscaler", hpa, namespace).get("status") or {}
    ready = (cluster.get("deployment", deployment, namespace).get("status") or {}).get(
        "readyReplicas", 0
    )
    metrics = status.get("currentMetrics") or []
    utilisation = [
        m["resource"]["current"].get("averageUtilization")
        for m in metrics
        if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
    ]
    still = status.get("desiredReplicas") == status.get("currentReplicas") == MIN_REPLICAS
    quiet = bool(utilisation) and utilisation[0] is not None and utilisation[0] < TARGET_PERCENT
    return True if still and quiet and ready == MIN_REPLICAS else None


@pytest.fixture
def autoscaled_api(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A namespace and the values file of the API tier with autoscaling on (not installed)."""
    values = tmp_path / "hpa-values.json"
    values.write_text(json.dumps(HPA_VALUES, indent=2), encoding="utf-8")
    with cluster.namespace("hpa") as namespace:
        yield namespace, values


def install_and_check(
    cluster: Cluster, namespace: str, values: Path, out: Path, *sets: str
) -> Check:
    """Installs the release, waits for the HPA to settle, runs the check through the NodePort."""
    cpu = f"api.resources.requests.cpu={CPU_REQUEST_M}m"
    cluster.install("api", namespace, values, sets=(cpu, *sets))
    (hpa,) = cluster.items("horizontalpodautoscaler", namespace)
    name = hpa["metadata"]["name"]
    deployment = hpa["spec"]["scaleTargetRef"]["name"]
    service = cluster.items("service", namespace, "app.kubernetes.io/component=api")[0]
    url = cluster.node_port_url(namespace, service["metadata"]["name"])
    poll(
        "the HPA to read CPU and hold minReplicas",
        lambda: hpa_settled(cluster, namespace, name, deployment),
        timeout=240,
        interval=5,
    )
    argv = [
        sys.executable, "-m", "loadtests.hpa_check",
        "--url", url,
        "--kubectl", str(TOOLS_BIN / "kubectl"),
        "--namespace", namespace,
        "--hpa", name,
        "--out", str(out),
        *CHECK_ARGS,
    ]  # fmt: skip
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Check(proc.returncode, proc.stdout, proc.stderr, out)


def test_the_hpa_scales_out_under_load_and_back_in(
    cluster: Cluster, autoscaled_api: tuple[str, Path], tmp_path: Path
) -> None:
    namespace, values = autoscaled_api
    room_for(cluster, MAX_REPLICAS)
    check = install_and_check(cluster, namespace, values, tmp_path / "hpa-check")
    assert check.returncode == 0, check.report()
    assert check.verdict[-1] == "PASS: every criterion holds", check.report()
    # what the verdict was about: the installed HPA, a low -> high -> low timeline
    hpa = json.loads((check.out / "hpa.json").read_text(encoding="utf-8"))["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (MIN_REPLICAS, MAX_REPLICAS)
    phases = [phase for phase, _ in itertools.groupby(r.phase for r in check.rows)]
    assert phases == ["low", "high", "low"], check.report()


def test_an_hpa_that_cannot_scale_fails_the_verdict(
    cluster: Cluster, autoscaled_api: tuple[str, Path], tmp_path: Path
) -> None:
    namespace, values = autoscaled_api
    room_for(cluster, MIN_REPLICAS)
    held = f"api.autoscaling.maxReplicas={MIN_REPLICAS}"
    check = install_and_check(cluster, namespace, values, tmp_path / "hpa-check", held)
    assert check.returncode == ExitCode.OBJECTIVE_MISSED, check.report()
    failed = [line for line in check.verdict if line.startswith("FAIL ")]
    assert any(
        line.startswith("FAIL scale-out after the step at ")
        and line.endswith(f": replicas never rose above {MIN_REPLICAS} in this high phase")
        for line in failed
    ), check.report()
    never_ready = (
        f"FAIL reaches {MAX_REPLICAS} ready: at most {MIN_REPLICAS} ready in this high phase"
    )
    assert never_ready in failed, check.report()
    assert check.verdict[-1] == "FAIL: see the lines above", check.report()
    # the load was there: the held HPA read a utilisation past its target while it could not act
    high = [r.cpu_utilization or 0.0 for r in check.rows if r.phase == "high"]
    assert max(high) > TARGET_PERCENT * 1.1, check.report()
