"""Cross-references inside each rendered scenario: what one object names, another provides.

Runs over every preset and CI scenario at the default Kubernetes version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.chart import (
    API_SCENARIOS,
    CHART,
    NAMESPACE,
    SCENARIOS,
    Render,
    helm_template,
    merged_values,
    scenario_values,
)
from tests.support.k8s import Doc, containers, load_docs, pod_specs

ALL = sorted(SCENARIOS)
API = API_SCENARIOS  # the checks of the API tier's objects run where it is deployed
SAFE_VOLUME_TYPES = {"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected"}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def api_deployment(render: Render) -> Doc:
    return render.one("Deployment")


def api_pod_labels(render: Render) -> dict[str, str]:
    labels: dict[str, str] = api_deployment(render)["spec"]["template"]["metadata"]["labels"]
    return labels


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every node of a values tree."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def declared_existing(values: Doc) -> dict[str, set[str]]:
    """Objects a scenario's values say exist outside the chart, by kind."""
    api = values.get("api", {})
    batch = values.get("batch", {})
    training = values.get("training", {})
    out: dict[str, set[str]] = {
        "ConfigMap": set(),
        "Secret": set(),
        "PersistentVolumeClaim": set(),
        "ServiceAccount": set(),
    }
    if batch.get("persistence", {}).get("existingClaim"):
        out["PersistentVolumeClaim"].add(batch["persistence"]["existingClaim"])
    if batch.get("serviceAccountName"):
        out["ServiceAccount"].add(batch["serviceAccountName"])
    if training.get("persistence", {}).get("existingClaim"):
        out["PersistentVolumeClaim"].add(training["persistence"]["existingClaim"])
    if training.get("serviceAccountName"):
        out["ServiceAccount"].add(training["serviceAccountName"])
    account = api.get("serviceAccount", {})
    if not account.get("create", True) and account.get("name"):
        out["ServiceAccount"].add(account["name"])
    if api.get("auth", {}).get("existingSecret"):
        out["Secret"].add(api["auth"]["existingSecret"])
    if values.get("modelRepository", {}).get("existingClaim"):
        out["PersistentVolumeClaim"].add(values["modelRepository"]["existingClaim"])
    bearer = api.get("metrics", {}).get("serviceMonitor", {}).get("bearerTokenSecret", {})
    if bearer.get("name"):
        out["Secret"].add(bearer["name"])
    for tls in api.get("ingress", {}).get("tls", []):
        out["Secret"].add(tls["secretName"])
    out["Secret"] |= set(values.get("imagePullSecrets", []))
    # Whatever the user passes through extraEnvFrom / extraVolumes is theirs to provide.
    keys = ("extraEnvFrom", "extraVolumes", "extraEnv")
    extras = [tier.get(key, []) for tier in (api, training) for key in keys]
    for extra in extras:
        for _, node in walk(extra):
            if isinstance(node, dict):
                for ref_key, kind in (
                    ("configMapRef", "ConfigMap"),
                    ("configMap", "ConfigMap"),
                    ("configMapKeyRef", "ConfigMap"),
                    ("secretRef", "Secret"),
                    ("secret", "Secret"),
                    ("secretKeyRef", "Secret"),
                    ("persistentVolumeClaim", "PersistentVolumeClaim"),
                ):
                    ref = node.get(ref_key)
                    if isinstance(ref, dict):
                        out[kind].add(ref.get("name") or ref.get("secretName") or ref["claimName"])
    return out


def references(spec: Doc) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap, Secret and PVC a pod spec refers to."""
    for ref in spec.get("imagePullSecrets", []):
        yield "Secret", ref["name"]
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]
    for container in containers(spec):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"]
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"]
        for env in container.get("env", []):
            value_from = env.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                yield "ConfigMap", value_from["configMapKeyRef"]["name"]
            if "secretKeyRef" in value_from:
                yield "Secret", value_from["secretKeyRef"]["name"]


@pytest.mark.parametrize("scenario", API)
def test_service_selects_the_api_pods(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    service = render.one("Service")
    pod_labels = api_pod_labels(render)
    assert matches(service["spec"]["selector"], pod_labels)
    ports = {
        p["name"]
        for c in api_deployment(render)["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in ports
    # The Deployment's selector is the Service's: no other pods are picked up.
    assert api_deployment(render)["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


@pytest.mark.parametrize("scenario", API)
def test_selectors_of_pdb_networkpolicy_and_spread(
    scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    pod_labels = api_pod_labels(render)
    for pdb in render.of_kind("PodDisruptionBudget"):
        assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    policies = render.of_kind("NetworkPolicy")
    api_policies = [
        p for p in policies if matches(p["spec"]["podSelector"]["matchLabels"], pod_labels)
    ]
    enabled = scenario_values(SCENARIOS[scenario]).get("api", {}).get("networkPolicy", {})
    assert len(api_policies) == (1 if enabled.get("enabled", True) else 0)
    spec = api_deployment(render)["spec"]["template"]["spec"]
    for constraint in spec["topologySpreadConstraints"]:
        assert matches(constraint["labelSelector"]["matchLabels"], pod_labels)


@pytest.mark.parametrize("scenario", API)
def test_hpa_targets_the_deployment(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    deployment = api_deployment(render)
    for hpa in render.of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] == deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        resource_metrics = {
            m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"
        }
        requests = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert resource_metrics <= set(requests), "utilization targets need requests"
    if not render.of_kind("HorizontalPodAutoscaler"):
        assert deployment["spec"]["replicas"] >= 1


@pytest.mark.parametrize("scenario", ALL)
def test_ingress_routes_to_a_rendered_service_port(
    scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    services = {s["metadata"]["name"]: s for s in render.of_kind("Service")}
    for ingress in render.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in names


@pytest.mark.parametrize("scenario", API)
def test_probes_name_real_ports_and_differ(scenario: str, rendered: dict[str, Render]) -> None:
    spec = api_deployment(rendered[scenario])["spec"]["template"]["spec"]
    for container in spec["containers"]:
        ports = {p["name"] for p in container["ports"]} | {
            p["containerPort"] for p in container["ports"]
        }
        probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        for probe in probes.values():
            assert probe["httpGet"]["port"] in ports
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert len({repr(sorted(p.items())) for p in probes.values()}) == 3


@pytest.mark.parametrize("scenario", API)
def test_config_port_is_the_container_port(scenario: str, rendered: dict[str, Render]) -> None:
    """PORT in the ConfigMap is the port the container exposes (the other timings of the
    ConfigMap, against preStop and the grace period, are test_shutdown.py's)."""
    render = rendered[scenario]
    spec = api_deployment(render)["spec"]["template"]["spec"]
    config_name = spec["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    config = next(c for c in render.of_kind("ConfigMap") if c["metadata"]["name"] == config_name)
    assert config["data"]["PORT"] == str(spec["containers"][0]["ports"][0]["containerPort"])


@pytest.mark.parametrize("scenario", ALL)
def test_every_reference_is_rendered_or_declared(
    scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    existing = declared_existing(scenario_values(SCENARIOS[scenario]))
    for obj, spec in pod_specs(render.docs):
        for kind, name in references(spec):
            assert name in render.names(kind) | existing[kind], (
                f"{scenario}: {obj['kind']} {obj['metadata']['name']} uses {kind} {name}, "
                "which is neither rendered nor declared as existing in the values"
            )
        volumes = [v["name"] for v in spec.get("volumes", [])]
        assert len(volumes) == len(set(volumes))
        for container in containers(spec):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes
        account = spec.get("serviceAccountName", "default")
        if account != "default" and obj["kind"] != "Pod":
            assert account in render.names("ServiceAccount") | existing["ServiceAccount"], (
                f"{scenario}: {obj['kind']} {obj['metadata']['name']} runs as {account}"
            )


@pytest.mark.parametrize("scenario", ALL)
def test_every_workload_uses_the_one_image(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    image = scenario_values(SCENARIOS[scenario]).get("image", {})
    registry = image.get("registry", "ghcr.io")
    repository = image.get("repository", "dimtensor/dimtensor-serve")
    expected = f"{registry}/{repository}" if registry else repository
    digest = image.get("digest")
    expected += f"@{digest}" if digest else f":{image.get('tag') or '0.1.0'}"
    images = {c["image"] for _, spec in pod_specs(render.docs) for c in containers(spec)}
    assert images == {expected}
    values = merged_values(scenario)
    workloads = {obj["kind"] for obj, _ in pod_specs(render.docs)}
    assert ("Deployment" in workloads) == values["api"]["enabled"]
    jobs = values["batch"]["enabled"] or values["training"]["enabled"]
    assert bool(workloads & {"Job", "CronJob"}) == jobs


@pytest.mark.parametrize("scenario", ALL)
def test_pod_security_standard_restricted(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    user_volumes = {
        v["name"]
        for v in scenario_values(SCENARIOS[scenario]).get("api", {}).get("extraVolumes", [])
    }
    for obj, spec in pod_specs(render.docs):
        where = f"{scenario}: {obj['kind']} {obj['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for key in ("runAsUser", "runAsGroup", "fsGroup"):
            assert pod[key] >= 10000, where
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["enableServiceLinks"] is False, where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), where
        for volume in spec.get("volumes", []):
            if volume["name"] not in user_volumes:
                assert set(volume) - {"name"} <= SAFE_VOLUME_TYPES, where
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc.get("privileged", False) is False, where
            assert sc["runAsUser"] >= 10000, where
            assert "requests" in container["resources"], where
            assert "limits" in container["resources"], where
            assert not container.get("ports", []) or all(
                "hostPort" not in p for p in container["ports"]
            )


@pytest.mark.parametrize("scenario", API)
def test_writable_paths_are_emptydirs(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    spec = api_deployment(render)["spec"]["template"]["spec"]
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    config = render.names("ConfigMap")
    data = next(c["data"] for c in render.of_kind("ConfigMap") if "HOME" in c.get("data", {}))
    assert config
    for path in ("/tmp", data["HOME"], data["PROMETHEUS_MULTIPROC_DIR"]):  # noqa: S108
        assert mounts.get(path) in empty_dirs, path


@pytest.mark.parametrize("scenario", ALL)
def test_labels_and_namespace_everywhere(scenario: str, rendered: dict[str, Render]) -> None:
    for doc in rendered[scenario].docs:
        meta = doc["metadata"]
        assert meta["namespace"] == NAMESPACE, doc["kind"]
        for label in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/component",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert label in meta["labels"], f"{doc['kind']} {meta['name']} lacks {label}"


def checksum(extra: list[str]) -> dict[str, str]:
    result = helm_template(extra=extra)
    assert result.returncode == 0, result.stderr
    deployment = next(d for d in load_docs(result.stdout) if d["kind"] == "Deployment")
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


def test_config_change_rolls_the_pods() -> None:
    base = checksum([])
    assert (
        checksum(["--set", "api.config.logLevel=debug"])["checksum/config"]
        != base["checksum/config"]
    )
    keys = ["--set", "api.auth.enabled=true"]
    one = checksum([*keys, "--set", "api.auth.apiKeys[0]=first-key-0000000000000000"])
    two = checksum([*keys, "--set", "api.auth.apiKeys[0]=other-key-0000000000000000"])
    assert one["checksum/secret"] != two["checksum/secret"]


@pytest.mark.parametrize("scenario", ALL)
def test_optional_objects_follow_their_switches(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    values = merged_values(scenario)
    api, batch, training = values["api"], values["batch"], values["training"]
    on = api["enabled"]
    min_pods = (
        api["autoscaling"]["minReplicas"] if api["autoscaling"]["enabled"] else api["replicaCount"]
    )

    def component(doc: Doc) -> str:
        value: str = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        return value

    def rendered_by(kind: str, owner: str) -> bool:
        return any(component(d) == owner for d in render.of_kind(kind))

    expected = {
        ("Deployment", "api"): on,
        ("Service", "api"): on,
        ("HorizontalPodAutoscaler", "api"): on and api["autoscaling"]["enabled"],
        ("Ingress", "api"): on and api["ingress"]["enabled"],
        ("ServiceMonitor", "api"): on and api["metrics"]["serviceMonitor"]["enabled"],
        ("Secret", "api"): on and api["auth"]["enabled"] and not api["auth"]["existingSecret"],
        ("PodDisruptionBudget", "api"): on and api["pdb"]["enabled"] and min_pods > 1,
        ("ServiceAccount", "api"): on and api["serviceAccount"]["create"],
        ("Job", "batch"): batch["enabled"] and not batch["schedule"]["enabled"],
        ("CronJob", "batch"): batch["enabled"] and batch["schedule"]["enabled"],
        ("Job", "training"): training["enabled"],
        ("Service", "training"): training["enabled"] and training["nodes"] > 1,
    }
    for (kind, owner), wanted in expected.items():
        assert rendered_by(kind, owner) == wanted, f"{scenario}: {kind} of {owner}"
    owners = {(d["kind"], component(d)) for d in render.docs}
    for kind in {k for k, _ in expected}:
        assert {o for k, o in owners if k == kind} <= {o for k, o in expected if k == kind}, kind
    claims = {component(d) for d in render.of_kind("PersistentVolumeClaim")}
    expected_claims = {"model-repository"} if values["modelRepository"]["type"] == "pvc" else set()
    for name, tier in (("batch", batch), ("training", training)):
        persistence = tier["persistence"]
        if tier["enabled"] and persistence["enabled"] and not persistence["existingClaim"]:
            expected_claims.add(name)
    assert claims == expected_claims, scenario
    policies = {component(d) for d in render.of_kind("NetworkPolicy")}
    assert ("api" in policies) == (on and api["networkPolicy"]["enabled"]), scenario
    assert ("batch" in policies) == (batch["enabled"] and batch["networkPolicy"]["enabled"])
    training_policy = training["enabled"] and training["networkPolicy"]["enabled"]
    assert ("training" in policies) == training_policy


def test_api_disabled_renders_no_api_objects() -> None:
    result = helm_template(extra=["--set", "api.enabled=false"])
    assert result.returncode == 0, result.stderr
    assert load_docs(result.stdout) == []
    result = helm_template(
        extra=["--set", "api.enabled=false", "--set", "modelRepository.type=pvc"]
    )
    assert [d["kind"] for d in load_docs(result.stdout)] == ["PersistentVolumeClaim"]


def test_dashboard_configmap_carries_the_dashboard_for_the_grafana_sidecar():
    from tests.support.chart import CI_VALUES

    result = helm_template([CI_VALUES["02-auth-chart-secret"]])
    assert result.returncode == 0, result.stderr
    maps = [
        d
        for d in load_docs(result.stdout)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")
    ]
    assert len(maps) == 1
    meta = maps[0]["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["annotations"]["grafana_folder"] == "Inference"
    shipped = (CHART / "dashboards" / "dimtensor-serve.json").read_text().rstrip("\n")
    assert maps[0]["data"]["dimtensor-serve.json"] == shipped
    default = helm_template([])
    assert "-dashboard" not in default.stdout  # off unless asked for
