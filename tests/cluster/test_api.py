"""The API tier on a real cluster: the default values and the inference preset installed into
namespaces that enforce Pod Security ``restricted``; the rollout completes, ``helm test``
passes, and ``/predict`` through the Service (a NodePort on loopback) converts units and refuses
a wrong dimension. Then ``helm upgrade`` changes the pods while clients post without pause, and
not one request fails."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.kube import CHART, Cluster

pytestmark = pytest.mark.timeout(900)

FOOT = 0.3048
G0 = 9.80665

# Each preset as a user installs it (kube.TEST_VALUES lowers the CPU requests for the two-core
# node); every release's Service is a NodePort.
PRESETS: dict[str, tuple[tuple[Path, ...], tuple[str, ...]]] = {
    "default": ((), ()),
    "inference": ((CHART / "values-inference.yaml",), ()),
}
NODE_PORT = ("api.service.type=NodePort",)

PROJECTILE_KMH_TO_FT: dict[str, Any] = {
    "model": "projectile",
    "inputs": {
        "speed": {"value": 72, "unit": "km/h"},
        "angle": {"value": [30, 45, 60], "unit": "deg"},
        "g": {"value": G0, "unit": "m/s^2"},
    },
    "outputs": {"range": "ft"},
}


def expected_range_ft(speed_kmh: float, angle_deg: float) -> float:
    speed = speed_kmh / 3.6
    return speed**2 * math.sin(math.radians(2 * angle_deg)) / G0 / FOOT


def api_names(cluster: Cluster, namespace: str) -> tuple[str, str]:
    selector = "app.kubernetes.io/component=api"
    (deployment,) = cluster.items("deployment", namespace, selector)
    (service,) = cluster.items("service", namespace, selector)
    return deployment["metadata"]["name"], service["metadata"]["name"]


@pytest.fixture(params=sorted(PRESETS), scope="module")
def api_release(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[tuple[str, str]]:
    values, sets = PRESETS[request.param]
    with cluster.namespace(f"api-{request.param}") as namespace:
        cluster.install("api", namespace, *values, sets=(*sets, *NODE_PORT))
        yield request.param, namespace


def test_the_rollout_completes_and_helm_test_passes(
    cluster: Cluster, api_release: tuple[str, str]
) -> None:
    _, namespace = api_release
    deployment, _ = api_names(cluster, namespace)
    cluster.kubectl(
        "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=300s"
    )
    ready = cluster.get("deployment", deployment, namespace)["status"]
    assert ready.get("readyReplicas") == ready.get("replicas"), ready
    out = cluster.helm("test", "api", "-n", namespace, "--logs", "--timeout", "5m")
    assert "Phase:          Succeeded" in out, out


def test_predict_through_the_service_converts_units(
    cluster: Cluster, api_release: tuple[str, str]
) -> None:
    _, namespace = api_release
    _, service = api_names(cluster, namespace)
    url = cluster.node_port_url(namespace, service)
    answer = httpx.post(f"{url}/predict", json=PROJECTILE_KMH_TO_FT, timeout=30)
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputs"]["range"]
    assert out["unit"] == "ft"
    assert out["dimension"] == "length"
    expected = [expected_range_ft(72, angle) for angle in (30, 45, 60)]
    assert out["value"] == pytest.approx(expected, rel=1e-5)


def test_a_wrong_dimension_gets_its_422(cluster: Cluster, api_release: tuple[str, str]) -> None:
    _, namespace = api_release
    _, service = api_names(cluster, namespace)
    url = cluster.node_port_url(namespace, service)
    body = {
        **PROJECTILE_KMH_TO_FT,
        "inputs": {**PROJECTILE_KMH_TO_FT["inputs"], "speed": {"value": 72, "unit": "kg"}},
    }
    answer = httpx.post(f"{url}/predict", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    text = str(problem)
    assert "speed" in text, problem
    assert "kg" in text, problem


@dataclass
class Stream:
    """Clients posting /predict back to back until told to stop, every answer tallied: half
    keep one connection open (the drain must close it cleanly), half open a new connection per
    request, as clients behind a load balancer do (kube-proxy picks an endpoint for each)."""

    url: str
    clients: int = 4
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, fresh_connections: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=0) if fresh_connections else httpx.Limits()
        with httpx.Client(base_url=self.url, timeout=15, limits=limits) as http:
            while not self.stop.is_set():
                try:
                    answer = http.post("/predict", json=PROJECTILE_KMH_TO_FT)
                    failed = (
                        ""
                        if answer.status_code == 200
                        else f"{answer.status_code} {answer.text[:200]}"
                    )
                except httpx.HTTPError as exc:
                    failed = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if failed:
                        self.failures.append(failed)
                    else:
                        self.ok += 1

    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self.client, args=(i % 2 == 1,), daemon=True)
            for i in range(self.clients)
        ]

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)


def test_an_upgrade_under_traffic_loses_no_request(cluster: Cluster) -> None:
    with cluster.namespace("api-upgrade") as namespace:
        # Test setting: a preStop of 10 s, not the chart's 5. On this shared two-core node the
        # endpoints once reached kube-proxy's rules more than 5 s after a pod was deleted (1 of
        # 6,479 new connections refused); the drain under test is the same either way.
        sets = (*NODE_PORT, "api.replicaCount=2", "api.preStopSleepSeconds=10")
        cluster.install("api", namespace, sets=sets)
        deployment, service = api_names(cluster, namespace)
        before = cluster.get("deployment", deployment, namespace)["metadata"]["generation"]
        stream = Stream(cluster.node_port_url(namespace, service))
        threads = stream.threads()
        for thread in threads:
            thread.start()
        try:
            warmup = time.monotonic() + 60
            while stream.total < 20 and time.monotonic() < warmup:
                time.sleep(0.2)
            assert stream.ok >= 20, f"the stream did not start: {stream.failures[:5]}"
            at_upgrade = stream.total
            # A config value: the pod template changes (the ConfigMap's checksum and the env).
            cluster.install("api", namespace, sets=(*sets, "api.config.logLevel=debug"))
            cluster.kubectl(
                "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=300s"
            )
            after_rollout = stream.total
        finally:
            stream.stop.set()
            for thread in threads:
                thread.join(timeout=30)
        after = cluster.get("deployment", deployment, namespace)
        assert after["metadata"]["generation"] > before, "the upgrade did not change the pods"
        assert after["status"].get("updatedReplicas") == 2, after["status"]
        assert after_rollout - at_upgrade > 0, "no request was sent during the rollout"
        assert stream.failures == [], (
            f"{len(stream.failures)} of {stream.total} requests failed during the upgrade: "
            f"{stream.failures[:10]}"
        )
