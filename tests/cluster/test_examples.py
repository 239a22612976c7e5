"""deploy/examples on a real cluster: ``kubectl apply`` of every manifest in the folder, and each
object reaches the state its file promises (a Deployment rolls out, a Job completes, a claim
binds, a Service gets endpoints, the HPA reads CPU from metrics-server, the PDB computes its
status, a NetworkPolicy selects the pods it is written for, the Ingress is stored as written).
Then the GPU preset: the API server accepts it, and its pods stay Pending with the scheduler's
reason, which is the expected outcome on a cluster without GPUs.

The examples are fixed to the namespace ``dimtensor`` (and the Locust master's ``--host`` names
``dimtensor-api.dimtensor.svc``), so they are applied there, as their README says: the module
creates it (Pod Security ``restricted`` enforced) and deletes it afterwards. A test applies its
file when it runs, after the files it needs (``MANIFESTS``), so the node is not asked to run
every workload at once.

Test settings (``with_test_settings``), each a change of the parsed YAML before it is applied,
never of the files: the node has two cores shared with other tests, and nothing can be pulled.

- Every container's requests: ``cpu`` -> ``CPU_REQUEST``, ``memory`` -> ``MEMORY_REQUEST``
  (the examples ask 500m to 2 cores and 512Mi to 2Gi); limits unchanged.
- ``hpa.yaml``: ``maxReplicas`` 10 -> its ``minReplicas`` (2), so that start-up CPU measured
  against a 10m request cannot grow the API to 10 pods on a shared node; the HPA still reads
  its metric and sets the count.
- ``training-ddp.yaml``: the training config's ``steps`` 3000 -> ``DDP_STEPS`` (300): two
  torchrun pods on two shared cores take about 0.2 s a step here (the allreduce over the pod
  network), so the 3000 Adam steps and 500 L-BFGS ones took over 11 minutes; the rendezvous over
  the headless Service, gloo, the checkpoints and the export are the same with fewer steps.
- Locust (``loadtest/``): the image ``locustio/locust:2.47.0`` (not on the node, no registry)
  -> the project's Locust variant (``make image-load``: the CPU image with the ``load`` extra,
  imported by ``scripts/cluster.sh up``), with ``command: [locust]`` (the stock image's
  entrypoint; the project image's is ``dimtensor``) and ``imagePullPolicy: Never``; workers
  4 -> ``LOCUST_WORKERS`` (and the master's ``--expect-workers`` with them); the load 800 users
  x 10 req/s in 4 steps over 600 s -> ``LOCUST_LOAD``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import pytest
import yaml

from tests.cluster.kube import CHART, EXAMPLES, Cluster, conditions, pods_report, poll

pytestmark = pytest.mark.timeout(900)

T = TypeVar("T")
Obj = dict[str, Any]

NAMESPACE = "dimtensor"  # every example's metadata.namespace
OWNER_KEY, OWNER_VALUE = "test.dimtensor.dev/owner", "tests.cluster.test_examples"
# The project's image with Locust (scripts/image.sh tag load), imported by scripts/cluster.sh up.
LOAD_IMAGE = "ghcr.io/dimtensor/dimtensor-serve:0.1.0-load"

# Test settings (the module's docstring says why).
CPU_REQUEST = "10m"
MEMORY_REQUEST = "256Mi"
DDP_STEPS = {"dimtensor-ddp-training": 300}  # ConfigMap -> the training config's Adam steps
LOCUST_IMAGE_PREFIX = "locustio/locust:"
LOCUST_WORKERS = 1
LOCUST_LOAD = {
    "LOCUST_SHAPE_USERS": "4",
    "LOCUST_SHAPE_STEPS": "2",
    "LOCUST_SHAPE_SECONDS": "20",
    "LOCUST_USER_RPS": "2",
}

# Every manifest in deploy/examples, in the order the tests apply them, with the files each
# needs applied first: the objects it refers to (the Deployment an HPA scales, the pods a PDB or
# NetworkPolicy selects, the Service an Ingress routes to, the Locust master's --host).
MANIFESTS: dict[str, tuple[str, ...]] = {
    "inference-deployment.yaml": (),
    "inference-service.yaml": ("inference-deployment.yaml",),
    "hpa.yaml": ("inference-deployment.yaml",),
    "pdb.yaml": ("inference-deployment.yaml",),
    "networkpolicy.yaml": ("inference-deployment.yaml",),
    "inference-ingress.yaml": ("inference-service.yaml",),
    "batch-job.yaml": (),
    "training-job.yaml": (),
    "training-ddp.yaml": (),
    "loadtest/locustfile-configmap.yaml": (),
    "loadtest/locust-workers.yaml": (
        "loadtest/locustfile-configmap.yaml",
        "loadtest/locust-master.yaml",
    ),
    "loadtest/locust-master.yaml": (
        "loadtest/locustfile-configmap.yaml",
        "inference-service.yaml",
        "loadtest/locust-workers.yaml",
    ),
    "loadtest/networkpolicy.yaml": (
        "inference-deployment.yaml",
        "loadtest/locust-workers.yaml",
        "loadtest/locust-master.yaml",
    ),
}

# The other files of the folder, and why nothing is applied from them.
RENDERED_FROM = "Helm values {} is rendered from (tests/deploy/test_examples.py)"
NOT_MANIFESTS = {
    "README.md": "documentation",
    "values-examples.yaml": RENDERED_FROM.format("the API tier's files"),
    "values-examples-batch.yaml": RENDERED_FROM.format("batch-job.yaml"),
    "values-examples-training.yaml": RENDERED_FROM.format("training-job.yaml"),
    "values-examples-training-ddp.yaml": RENDERED_FROM.format("training-ddp.yaml"),
}

# Container states that mean a pod will not run as written (not a slow start).
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
}
FATAL_TERMINATED = {"StartError", "ContainerCannotRun"}


class PodsCannotStartError(AssertionError):
    """A workload's pods are stuck in an image, create or start error: the reason, per pod."""


# --- the manifests and the test settings ----------------------------------------------------


@cache
def manifest(rel: str) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.safe_load_all((EXAMPLES / rel).read_text()) if doc)


def pod_template(doc: Obj) -> Obj | None:
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return dict(doc["spec"]["template"])
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"])
    return None


def containers(doc: Obj) -> list[Obj]:
    template = pod_template(doc)
    if template is None:
        return []
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def set_env(container: Obj, values: dict[str, str]) -> None:
    env = {item["name"]: item for item in container["env"]}
    for name, value in values.items():
        assert name in env, f"container {container['name']} has no env {name} to set"
        env[name]["value"] = value


def with_test_settings(doc: Obj) -> Obj:
    """``doc`` with the module's test settings (see the docstring); each one fails when the
    example no longer has what it changes."""
    doc = copy.deepcopy(doc)
    locust = False
    for container in containers(doc):
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests), f"{container['name']}: no requests to lower"
        requests["cpu"], requests["memory"] = CPU_REQUEST, MEMORY_REQUEST
        if container["image"].startswith(LOCUST_IMAGE_PREFIX):
            locust = True
            container["image"] = LOAD_IMAGE
            container["command"] = ["locust"]
            container["imagePullPolicy"] = "Never"
            if "--master" in container["args"]:
                (i,) = [
                    i for i, a in enumerate(container["args"]) if a.startswith("--expect-workers=")
                ]
                container["args"][i] = f"--expect-workers={LOCUST_WORKERS}"
                set_env(container, LOCUST_LOAD)
    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] in DDP_STEPS:
        config = yaml.safe_load(doc["data"]["config.yaml"])
        assert "steps" in config, f"{doc['metadata']['name']}: no steps to lower"
        config["steps"] = DDP_STEPS[doc["metadata"]["name"]]
        doc["data"]["config.yaml"] = yaml.safe_dump(config)
    if doc["kind"] == "HorizontalPodAutoscaler":
        doc["spec"]["maxReplicas"] = doc["spec"]["minReplicas"]
    if doc["kind"] == "Deployment" and locust:
        doc["spec"]["replicas"] = LOCUST_WORKERS
    return doc


def labels_selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def selector_of(label_selector: Obj) -> str:
    """A metav1.LabelSelector as kubectl's ``-l``: matchLabels only, all the examples use."""
    assert not label_selector.get("matchExpressions"), (
        f"matchExpressions not handled: {label_selector}"
    )
    return labels_selector(label_selector.get("matchLabels") or {})


# --- waiting, with the reason when it fails ------------------------------------------------------


def start_failures(pods: list[Obj]) -> list[str]:
    out = []
    for pod in pods:
        status = pod.get("status", {})
        for cs in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
            where = (
                f"pod {pod['metadata']['name']} container {cs['name']} (image {cs.get('image')})"
            )
            waiting = cs.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_WAITING:
                out.append(f"{where}: {waiting['reason']}: {waiting.get('message', '')}")
            for state in (cs.get("state", {}), cs.get("lastState", {})):
                ended = state.get("terminated") or {}
                if ended.get("reason") in FATAL_TERMINATED:
                    code, message = ended.get("exitCode"), ended.get("message", "")
                    out.append(f"{where}: {ended['reason']} (exit {code}): {message}")
    return out


def raise_if_cannot_start(cluster: Cluster, namespace: str, selector: str) -> None:
    failures = start_failures(cluster.items("pods", namespace, selector))
    if failures:
        raise PodsCannotStartError("pods cannot start:\n" + "\n".join(sorted(set(failures))))


def wait_for(
    cluster: Cluster, namespace: str, what: str, probe: Callable[[], T | None], timeout: float
) -> T:
    """``poll``, and on a timeout the namespace's events in the message."""
    try:
        return poll(what, probe, timeout, interval=2)
    except PodsCannotStartError:
        raise
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- events in {namespace}\n{cluster.events(namespace)[-4000:]}"
        ) from None


# --- each kind's expected state ------------------------------------------------------------------


def where(doc: Obj) -> tuple[str, str]:
    return doc["metadata"]["name"], doc["metadata"].get("namespace", NAMESPACE)


def expect_configmap(cluster: Cluster, doc: Obj) -> None:
    """Stored with the data of the file."""
    name, ns = where(doc)
    live = cluster.get("configmap", name, ns)
    assert live.get("data") == doc.get("data"), f"configmap/{name} is stored with other data"


def expect_pvc_bound(cluster: Cluster, doc: Obj) -> None:
    """Bound by the cluster's default StorageClass, with the access modes asked for."""
    name, ns = where(doc)

    def bound() -> Obj | None:
        live = cluster.get("pvc", name, ns)
        return live if live.get("status", {}).get("phase") == "Bound" else None

    live = wait_for(cluster, ns, f"pvc/{name} to be Bound", bound, 180)
    assert live["status"]["accessModes"] == doc["spec"]["accessModes"], live["status"]


def expect_service_endpoints(cluster: Cluster, doc: Obj) -> None:
    """Its EndpointSlices list the pods it selects, on every port; ready ones unless the Service
    publishes pods that are not ready (a headless rendezvous Service)."""
    name, ns = where(doc)
    spec = doc["spec"]
    assert spec.get("selector"), f"service/{name} selects no pods"
    pods = labels_selector(spec["selector"])
    any_state = bool(spec.get("publishNotReadyAddresses"))

    def endpoints() -> list[Obj] | None:
        raise_if_cannot_start(cluster, ns, pods)
        slices = cluster.items("endpointslices", ns, f"kubernetes.io/service-name={name}")
        found = [
            (s, e)
            for s in slices
            for e in s.get("endpoints") or []
            if any_state or e.get("conditions", {}).get("ready")
        ]
        return slices if found else None

    slices = wait_for(cluster, ns, f"service/{name} to get endpoints", endpoints, 300)
    served = {p.get("name", "") for s in slices if s.get("endpoints") for p in s.get("ports") or []}
    wanted = {p.get("name", "") for p in spec["ports"]}
    assert wanted <= served, f"service/{name}: ports {wanted - served} resolve to no pod port"


def deployment_available(cluster: Cluster, name: str, ns: str, min_replicas: int = 1) -> Obj:
    live = cluster.get("deployment", name, ns)
    pods = selector_of(live["spec"]["selector"])

    def available() -> Obj | None:
        raise_if_cannot_start(cluster, ns, pods)
        d = cluster.get("deployment", name, ns)
        st, want = d.get("status", {}), d["spec"]["replicas"]
        done = (
            want >= min_replicas
            and st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("replicas")
            == st.get("updatedReplicas")
            == st.get("availableReplicas")
            == want
            and conditions(d).get("Available", {}).get("status") == "True"
            and conditions(d).get("Progressing", {}).get("reason") == "NewReplicaSetAvailable"
        )
        return d if done else None

    return wait_for(cluster, ns, f"deployment/{name} to complete its rollout", available, 300)


def expect_deployment_available(cluster: Cluster, doc: Obj) -> None:
    """The rollout completes: every replica updated and available."""
    name, ns = where(doc)
    deployment_available(cluster, name, ns)


def expect_job_complete(cluster: Cluster, doc: Obj) -> None:
    """Complete, with every completion succeeded."""
    name, ns = where(doc)
    pods = f"batch.kubernetes.io/job-name={name}"

    def finished() -> Obj | None:
        raise_if_cannot_start(cluster, ns, pods)
        job = cluster.get("job", name, ns)
        failed = conditions(job).get("Failed", {})
        if failed.get("status") == "True":
            why = f"{failed.get('reason')}: {failed.get('message')}"
            raise AssertionError(f"job/{name} failed: {why}\n{pods_report(cluster, ns, pods)}")
        return job if conditions(job).get("Complete", {}).get("status") == "True" else None

    job = wait_for(cluster, ns, f"job/{name} to complete", finished, 720)
    assert job["status"].get("succeeded") == job["spec"].get("completions", 1), job["status"]


def expect_hpa_reads_cpu(cluster: Cluster, doc: Obj) -> None:
    """It reads the pods' CPU (metrics-server), is active, and sets its target's count within
    its bounds; the target then rolls out to that count."""
    name, ns = where(doc)

    def cpu_read() -> Obj | None:
        hpa = cluster.get("hpa", name, ns)
        for metric in hpa.get("status", {}).get("currentMetrics") or []:
            current = metric.get("resource", {}).get("current", {})
            if (
                metric["type"] == "Resource"
                and metric["resource"]["name"] == "cpu"
                and "averageUtilization" in current
            ):
                return hpa
        return None

    hpa = wait_for(cluster, ns, f"hpa/{name} to read a CPU metric", cpu_read, 300)
    active = conditions(hpa).get("ScalingActive", {})
    assert active.get("status") == "True", active
    ref = hpa["spec"]["scaleTargetRef"]
    assert ref["kind"] == "Deployment", ref
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    target = deployment_available(cluster, ref["name"], ns, min_replicas=low)
    assert low <= target["spec"]["replicas"] <= high, target["spec"]


def expect_pdb_status(cluster: Cluster, doc: Obj) -> None:
    """The disruption controller counts the pods it selects, all healthy, and allows the
    disruptions its spec says."""
    name, ns = where(doc)

    def computed() -> Obj | None:
        pdb = cluster.get("pdb", name, ns)
        st = pdb.get("status", {})
        settled = st.get("observedGeneration") == pdb["metadata"]["generation"]
        healthy = st.get("expectedPods", 0) >= 1 and st.get("currentHealthy") == st["expectedPods"]
        return pdb if settled and healthy else None

    pdb = wait_for(cluster, ns, f"pdb/{name} to count its pods, all healthy", computed, 300)
    st, spec = pdb["status"], pdb["spec"]
    if isinstance(spec.get("maxUnavailable"), int):
        desired = st["expectedPods"] - spec["maxUnavailable"]
    elif isinstance(spec.get("minAvailable"), int):
        desired = spec["minAvailable"]
    else:
        desired = st["desiredHealthy"]
    assert st["desiredHealthy"] == max(desired, 0), st
    assert st["disruptionsAllowed"] == max(st["currentHealthy"] - st["desiredHealthy"], 0), st


def expect_networkpolicy_selects(cluster: Cluster, doc: Obj) -> None:
    """Accepted as written; it selects pods, every pod peer of its rules selects pods, and each
    named port it admits is a container port of the pods it selects."""
    name, ns = where(doc)
    live = cluster.get("networkpolicy", name, ns)
    assert live["spec"]["podSelector"] == doc["spec"]["podSelector"], live["spec"]
    assert live["spec"].get("policyTypes") == doc["spec"].get("policyTypes"), live["spec"]
    spec = doc["spec"]
    target = selector_of(spec["podSelector"])
    peers = [
        selector_of(peer["podSelector"])
        for rule in [*spec.get("ingress", []), *spec.get("egress", [])]
        for peer in [*rule.get("from", []), *rule.get("to", [])]
        if "podSelector" in peer and "namespaceSelector" not in peer
    ]

    def selected() -> list[Obj] | None:
        pods = cluster.items("pods", ns, target)
        return pods if pods and all(cluster.items("pods", ns, p) for p in peers) else None

    pods = wait_for(
        cluster, ns, f"networkpolicy/{name} and its peers to select pods", selected, 180
    )
    named = {
        p["port"]
        for rule in spec.get("ingress", [])
        for p in rule.get("ports", [])
        if isinstance(p.get("port"), str)
    }
    for pod in pods:
        ports = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        podname = pod["metadata"]["name"]
        assert named <= ports, f"networkpolicy/{name}: pod {podname} lacks ports {named - ports}"


def expect_ingress_accepted(cluster: Cluster, doc: Obj) -> None:
    """Stored as written (no controller runs here to give it an address), and each backend is a
    Service of the namespace with that port."""
    name, ns = where(doc)
    live = cluster.get("ingress", name, ns)
    for key in ("ingressClassName", "rules", "tls"):
        assert live["spec"].get(key) == doc["spec"].get(key), (
            f"ingress/{name} {key}: {live['spec'].get(key)}"
        )
    for rule in doc["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            svc = cluster.get("service", backend["name"], ns)
            ports = {p.get("name") for p in svc["spec"]["ports"]} | {
                p["port"] for p in svc["spec"]["ports"]
            }
            wanted = backend["port"].get("name", backend["port"].get("number"))
            assert wanted in ports, (
                f"ingress/{name}: service/{backend['name']} has no port {wanted}"
            )


# Each kind the examples hold, and what it must reach; checked in this order within a file
# (endpoints of a Job's headless Service exist while its pods run, so Services come first).
EXPECTATIONS: dict[str, Callable[[Cluster, Obj], None]] = {
    "ConfigMap": expect_configmap,
    "PersistentVolumeClaim": expect_pvc_bound,
    "Service": expect_service_endpoints,
    "Deployment": expect_deployment_available,
    "Job": expect_job_complete,
    "HorizontalPodAutoscaler": expect_hpa_reads_cpu,
    "PodDisruptionBudget": expect_pdb_status,
    "NetworkPolicy": expect_networkpolicy_selects,
    "Ingress": expect_ingress_accepted,
}


# --- the namespace and the applied files -----------------------------------------------------


@dataclass
class Examples:
    """Applies each file once, after what it needs, with the test settings."""

    cluster: Cluster
    applied: set[str] = field(default_factory=set)
    settled: set[str] = field(default_factory=set)

    def apply(self, rel: str) -> None:
        """Applies what ``rel`` needs, waiting for each to reach its state as a user would
        (the API serving before Locust loads it), then ``rel`` itself."""
        if rel in self.applied:
            return
        self.applied.add(rel)  # first: the Locust master and workers need each other
        for need in MANIFESTS[rel]:
            self.apply(need)
            if rel not in MANIFESTS[need]:  # a mutual need cannot wait for the other side
                self.settle(need)
        docs = [with_test_settings(doc) for doc in manifest(rel)]
        self.cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump_all(docs))

    def settle(self, rel: str) -> None:
        """Waits until every object of ``rel`` is in its expected state (EXPECTATIONS)."""
        if rel in self.settled:
            return
        docs = manifest(rel)
        for kind, expect in EXPECTATIONS.items():
            for doc in docs:
                if doc["kind"] == kind:
                    expect(self.cluster, with_test_settings(doc))
        self.settled.add(rel)


@pytest.fixture(scope="module")
def examples(cluster: Cluster) -> Iterator[Examples]:
    existing = cluster.kubectl("get", "namespace", NAMESPACE, "-o", "json", check=False)
    if existing:
        labels = json.loads(existing)["metadata"].get("labels") or {}
        if labels.get(OWNER_KEY) != OWNER_VALUE:
            pytest.fail(f"namespace {NAMESPACE} exists and is not this module's (examples need it)")
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
        cluster.kubectl(
            "wait", "--for=delete", f"namespace/{NAMESPACE}", "--timeout=300s", check=False
        )
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl(
        "label", "namespace", NAMESPACE, f"{OWNER_KEY}={OWNER_VALUE}",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )  # fmt: skip
    try:
        yield Examples(cluster)
    finally:
        if os.environ.get("CLUSTER_KEEP_NAMESPACES") != "1":
            cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


# --- the tests -----------------------------------------------------------------------------------


def folder_files() -> set[str]:
    return {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file()}


def test_every_file_in_deploy_examples_has_an_expected_state() -> None:
    files = folder_files()
    unknown = files - set(MANIFESTS) - set(NOT_MANIFESTS)
    assert not unknown, (
        f"files in deploy/examples no test applies: {sorted(unknown)} (add them to MANIFESTS)"
    )
    gone = (set(MANIFESTS) | set(NOT_MANIFESTS)) - files
    assert not gone, f"listed but not in deploy/examples: {sorted(gone)}"
    for rel in MANIFESTS:
        docs = manifest(rel)
        assert docs, f"{rel}: no objects"
        for doc in docs:
            assert doc["kind"] in EXPECTATIONS, (
                f"{rel}: no expected state for kind {doc['kind']} (add it to EXPECTATIONS)"
            )
            assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE, (
                f"{rel}: {doc['metadata']}"
            )
        for need in MANIFESTS[rel]:
            assert need in MANIFESTS, f"{rel} needs {need}, which is not a manifest"


@pytest.mark.parametrize("rel", list(MANIFESTS))
def test_example_reaches_its_expected_state(cluster: Cluster, examples: Examples, rel: str) -> None:
    examples.apply(rel)
    examples.settle(rel)


# The GPU preset on a node without GPUs. As the preset is: the node lacks the GPU feature
# discovery label the preset selects. With that selector taken out (a test setting standing for
# a labelled node without the NVIDIA device plugin): the node has no nvidia.com/gpu to give.
# Either way the API server takes every object and the scheduler says why the pods wait.
GPU_CASES: dict[str, tuple[tuple[str, ...], str]] = {
    "preset": ((), "didn't match Pod's node affinity/selector"),
    "no-node-selector": (("api.nodeSelector=null",), "Insufficient nvidia.com/gpu"),
}


@pytest.mark.parametrize("case", list(GPU_CASES))
def test_gpu_preset_is_accepted_and_its_pods_wait_for_a_gpu(cluster: Cluster, case: str) -> None:
    sets, reason = GPU_CASES[case]
    with cluster.namespace("examples-gpu") as ns:
        # the GPU image's tag (deploy/README.md); it is not on the node, and need not be while
        # no pod is scheduled (pullPolicy Never)
        cluster.install(
            "gpu", ns, CHART / "values-gpu.yaml", sets=("image.tag=0.1.0-cuda", *sets), wait=False
        )
        (deployment,) = cluster.items("deployment", ns, "app.kubernetes.io/component=api")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"].get("nvidia.com/gpu") == "1", container["resources"]
        replicas = deployment["spec"]["replicas"]
        pods_selector = selector_of(deployment["spec"]["selector"])

        def unschedulable() -> list[Obj] | None:
            pods = cluster.items("pods", ns, pods_selector)
            waiting = [
                p
                for p in pods
                if conditions(p).get("PodScheduled", {}).get("reason") == "Unschedulable"
                and conditions(p)["PodScheduled"]["status"] == "False"
            ]
            return waiting if len(pods) == replicas and len(waiting) == replicas else None

        pods = wait_for(
            cluster, ns, f"{replicas} GPU pods to be found unschedulable", unschedulable, 180
        )
        for pod in pods:
            podname = pod["metadata"]["name"]
            assert pod["status"]["phase"] == "Pending", pod["status"]
            assert not pod["spec"].get("nodeName"), pod["spec"]["nodeName"]
            message = conditions(pod)["PodScheduled"].get("message", "")
            assert reason in message, f"pod {podname} waits for another reason: {message}"
            about = f"reason=FailedScheduling,involvedObject.name={podname}"
            out = cluster.kubectl(
                "-n", ns, "get", "events", "-o", "json", "--field-selector", about
            )
            said = [e.get("message", "") for e in json.loads(out)["items"]]
            assert any(reason in m for m in said), (
                f"no FailedScheduling of {podname} says {reason!r}: {said}"
            )

        def pdb_counts() -> Obj | None:
            (pdb,) = cluster.items("pdb", ns)
            return pdb if pdb.get("status", {}).get("expectedPods") == replicas else None

        status = wait_for(cluster, ns, "the PDB to count the GPU pods", pdb_counts, 120)["status"]
        assert status["currentHealthy"] == 0, status
        assert status["disruptionsAllowed"] == 0, status
