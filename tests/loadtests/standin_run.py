"""``hpa_check`` end to end without a cluster: a real server and real load, the control
plane played by ``kubectl_standin.py``.

``python -m tests.loadtests.standin_run OUT`` records the timeline checked in under
``loadtests/timelines/standin-recorded/`` (about four minutes of load); the test suite runs
the same with short phases to check the plumbing (files, columns, phases), not the timing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadtests.local import serve

STANDIN = Path(__file__).with_name("kubectl_standin.py")


def hpa_object(
    *, min_replicas: int = 2, max_replicas: int = 6, target: int = 50, down_window: int = 60
) -> dict[str, Any]:
    """An autoscaling/v2 HPA as the chart renders one (names as deploy/examples)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "dimtensor-api", "namespace": "dimtensor"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "dimtensor-api"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": 15},
                    {"type": "Pods", "value": 4, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": down_window, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 50,
                                            "periodSeconds": 15}]},
            },
        },
    }  # fmt: skip


def run(
    out: Path,
    *,
    hpa: dict[str, Any],
    cpu_request_m: int,
    sync_s: float,
    resolution_s: float,
    pod_start_s: float,
    low_rps: float,
    phases: tuple[float, float, float],
    poll_s: float,
    timeout_s: float,
) -> subprocess.CompletedProcess[str]:
    """Start a server, play the cluster around it, run ``python -m loadtests.hpa_check``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp, serve(Path(tmp) / "server") as srv:
        state = Path(tmp) / "state"
        state.mkdir()
        cluster = {
            "hpa": hpa,
            "server_pid": srv.proc.pid,
            "cpu_request_m": cpu_request_m,
            "sync_period_s": sync_s,
            "metrics_window_s": 2 * resolution_s,
            "pod_start_s": pod_start_s,
        }
        (state / "cluster.json").write_text(json.dumps(cluster), encoding="utf-8")
        kubectl = shlex.join([sys.executable, str(STANDIN), "--state", str(state)])
        low, high, scale_in = phases
        argv = [
            sys.executable, "-m", "loadtests.hpa_check", "--url", srv.url,
            "--kubectl", kubectl, "--namespace", "dimtensor", "--hpa", "dimtensor-api",
            "--out", str(out), "--low-rps", f"{low_rps:g}", "--low-seconds", f"{low:g}",
            "--high-seconds", f"{high:g}", "--scale-in-seconds", f"{scale_in:g}",
            "--poll", f"{poll_s:g}", "--sync-period", f"{sync_s:g}",
            "--metrics-resolution", f"{resolution_s:g}", "--pod-start", f"{pod_start_s:g}",
            "--processes", "1",
        ]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/standin-recorded")
    result = run(
        out, hpa=hpa_object(), cpu_request_m=100, sync_s=5, resolution_s=5, pod_start_s=5,
        low_rps=100, phases=(60, 90, 130), poll_s=5, timeout_s=600,
    )  # fmt: skip
    print(result.stdout, result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
