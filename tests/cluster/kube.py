"""The cluster tests' hands: kubectl and helm against the project's own test cluster
(scripts/cluster.sh), namespaces that enforce Pod Security ``restricted``, releases of the chart
on the imported image, and HTTP through a Service's NodePort on loopback.

Every failure message carries what was run and what it printed; nothing here sleeps to
synchronise: waits are ``kubectl wait``/``rollout status`` or polls with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "dimtensor"
EXAMPLES = REPO / "deploy" / "examples"
CLUSTER_SH = REPO / "scripts" / "cluster.sh"
TOOLS_BIN = REPO / ".tools" / "bin"

# Every release the tests install: the chart's image is the one `make image` builds and
# `cluster.sh up` imports (Never proves that nothing is pulled), and the API pods request a tenth
# of a core, since the node's two cores are shared by every test release at once (a scheduling
# setting only: the limits stay the chart's).
TEST_VALUES = ("--set", "image.pullPolicy=Never", "--set", "api.resources.requests.cpu=100m")

T = TypeVar("T")


class CommandError(AssertionError):
    """A kubectl or helm call that exited non-zero: the command line and both streams."""


def run(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        input=input,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandError(
            f"{' '.join(args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def poll(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Calls ``probe`` until it returns something other than None; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = probe()
        except (CommandError, OSError) as exc:  # transient: the API server or a pod not ready
            value, last = None, exc
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last error: {last}"
            )
        time.sleep(interval)


@dataclass(frozen=True)
class Cluster:
    """The running test cluster, as the admin kubeconfig reaches it."""

    kubeconfig: Path

    @property
    def env(self) -> dict[str, str]:
        path = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def kubectl(
        self, *args: str, timeout: float = 600, check: bool = True, input: str | None = None
    ) -> str:
        return run(
            [str(TOOLS_BIN / "kubectl"), *args],
            env=self.env,
            timeout=timeout,
            check=check,
            input=input,
        ).stdout

    def helm(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        return run(
            [str(TOOLS_BIN / "helm"), *args], env=self.env, timeout=timeout, check=check
        ).stdout

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(
            self.kubectl("-n", namespace, "get", kind, name, "-o", "json")
        )
        return obj

    def items(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["-n", namespace, "get", kind, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args))["items"])

    @contextlib.contextmanager
    def namespace(self, prefix: str, *, restricted: bool = True) -> Iterator[str]:
        """A fresh namespace enforcing Pod Security ``restricted``; deleted afterwards."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        if restricted:
            self.kubectl(
                "label",
                "namespace",
                name,
                "pod-security.kubernetes.io/enforce=restricted",
                "pod-security.kubernetes.io/enforce-version=latest",
            )
        try:
            yield name
        finally:
            if os.environ.get("CLUSTER_KEEP_NAMESPACES") != "1":
                self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def install(
        self,
        release: str,
        namespace: str,
        *values: Path,
        sets: Sequence[str] = (),
        wait: bool = True,
        timeout: str = "8m",
    ) -> str:
        args = ["upgrade", "--install", release, str(CHART), "-n", namespace, *TEST_VALUES]
        for path in values:
            args += ["-f", str(path)]
        for item in sets:
            args += ["--set", item]
        if wait:
            args += ["--wait", "--timeout", timeout]
        return self.helm(*args)

    def node_port_url(self, namespace: str, service: str) -> str:
        """``http://127.0.0.1:<nodePort>``: kube-proxy serves NodePorts on loopback
        (nodePortAddresses 127.0.0.0/8), so a host client goes through the Service.

        Returned once the port takes a connection: kube-proxy programs a new Service's rules
        on its next sync, after the release is ready (until then: connection refused)."""
        svc = self.get("service", service, namespace)
        (port,) = [p["nodePort"] for p in svc["spec"]["ports"] if p.get("nodePort")]

        def accepts() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True

        poll(f"NodePort {port} of {namespace}/{service} taking connections", accepts, 120, 0.5)
        return f"http://127.0.0.1:{port}"

    def events(self, namespace: str) -> str:
        return self.kubectl(
            "-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False
        )


# --- Jobs, their pods and their claims ---------------------------------------------------------


def selector(release: str, component: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"


def the_job(cluster: Cluster, namespace: str, release: str, component: str) -> str:
    """The name of the release's one Job of this component (the chart hashes its spec into it)."""
    jobs = cluster.items("job", namespace, selector(release, component))
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    name: str = jobs[0]["metadata"]["name"]
    return name


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An object's status conditions by type."""
    return {c["type"]: c for c in obj.get("status", {}).get("conditions") or []}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The condition ``kind`` when it is True, else None."""
    found = conditions(obj).get(kind)
    return found if found is not None and found["status"] == "True" else None


def pods_report(cluster: Cluster, namespace: str, pods: str) -> str:
    """The pods a label selector picks, their last log lines and the namespace's events: what a
    failure message needs."""
    listing = cluster.kubectl("-n", namespace, "get", "pods", "-l", pods, "-o", "wide", check=False)
    logs = cluster.kubectl(
        "-n",
        namespace,
        "logs",
        "-l",
        pods,
        "--prefix",
        "--all-containers",
        "--tail=15",
        "--max-log-requests=10",
        check=False,
    )
    events = cluster.events(namespace)[-4000:]
    return f"--- pods\n{listing}\n--- logs\n{logs[-6000:]}\n--- events\n{events}"


def finished_job(
    cluster: Cluster,
    namespace: str,
    job: str,
    timeout: float,
    give_up: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The Job once it has a Complete or Failed condition. ``give_up(job)`` may end the wait
    early with the Job as it is (a condition that already decides the test)."""

    def probe() -> dict[str, Any] | None:
        doc = cluster.get("job", job, namespace)
        if condition(doc, "Complete") or condition(doc, "Failed"):
            return doc
        if give_up is not None and give_up(doc):
            return doc
        return None

    return poll(f"job {job} to finish", probe, timeout, interval=2)


def assert_complete(
    cluster: Cluster, namespace: str, release: str, component: str, job: dict[str, Any]
) -> None:
    assert condition(job, "Complete"), (
        f"job {job['metadata']['name']} did not complete: {json.dumps(job.get('status'))}\n"
        + pods_report(cluster, namespace, selector(release, component))
    )


def claim_dir(cluster: Cluster, namespace: str, claim: str) -> Path:
    """The host directory of the PV bound to `claim` (the StorageClass ``hostpath``)."""

    def bound() -> str | None:
        pvc = cluster.get("pvc", claim, namespace)
        volume: str | None = (
            pvc["spec"].get("volumeName") if pvc["status"].get("phase") == "Bound" else None
        )
        return volume

    volume = poll(f"claim {claim} to be bound", bound, timeout=120)
    pv = cluster.get("pv", volume, "")
    assert "hostPath" in pv["spec"], f"PV {volume} is not a host-path volume: {pv['spec']}"
    return Path(pv["spec"]["hostPath"]["path"])


def pod_logs(cluster: Cluster, namespace: str, pod: str) -> str:
    return cluster.kubectl("-n", namespace, "logs", pod, check=False)


def cluster_status() -> bool:
    return run(["bash", str(CLUSTER_SH), "status"], check=False, timeout=60).returncode == 0


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """The cluster for a test session: the one already up, or one brought up now and taken
    down at the end (CLUSTER_KEEP=1 leaves it up)."""
    started = not cluster_status()
    if started:
        proc = subprocess.run(["bash", str(CLUSTER_SH), "up"], timeout=3600, check=False)
        if proc.returncode != 0:
            raise CommandError(
                f"scripts/cluster.sh up exited {proc.returncode} (its output is above)"
            )
    kubeconfig = Path(run(["bash", str(CLUSTER_SH), "kubeconfig"]).stdout.strip())
    try:
        yield Cluster(kubeconfig)
    finally:
        if started and os.environ.get("CLUSTER_KEEP") != "1":
            subprocess.run(["bash", str(CLUSTER_SH), "down"], timeout=300, check=False)
