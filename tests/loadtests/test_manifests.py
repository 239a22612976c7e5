"""deploy/examples/loadtest: the same offline validation as the other manifests
(kubernetes-validate --strict for every supported minor, checkov; yamllint runs over
deploy/examples in tests/deploy/test_lint.py), the API's pod security, and the ConfigMap's
locustfile equal to loadtests/locustfile.py."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from loadtests.local import LOCUSTFILE
from tests.support.chart import EXAMPLES, KUBE_VERSIONS
from tests.support.k8s import Doc, containers, load_docs, pod_specs
from tests.support.validators import checkov, validate

LOADTEST = EXAMPLES / "loadtest"
FILES = sorted(LOADTEST.glob("*.yaml"))


def docs() -> list[Doc]:
    out: list[Doc] = []
    for path in FILES:
        out += load_docs(path.read_text(encoding="utf-8"))
    return out


def one(kind: str) -> Doc:
    found = [d for d in docs() if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_the_configmaps_locustfile_is_loadtests_locustfile() -> None:
    source = LOCUSTFILE.read_text(encoding="utf-8")
    assert one("ConfigMap")["data"]["locustfile.py"] == source


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_strict_validation(kube_version: str) -> None:
    output = validate(FILES, kube_version)
    assert output.count("passed for resource") == len(docs())


def test_checkov_finds_nothing(tmp_path: Path) -> None:
    for path in FILES:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    report = checkov("--framework", "kubernetes", "-d", tmp_path)
    assert report["failed"] == [], "\n".join(report["failed"])
    assert report["parsing_errors"] == 0
    assert report["passed"] > 100, report


def test_pods_are_secured_as_the_api_is() -> None:
    api_docs = load_docs((EXAMPLES / "inference-deployment.yaml").read_text(encoding="utf-8"))
    [(_, api_pod)] = list(pod_specs(api_docs))
    [api_container] = containers(api_pod)
    specs = list(pod_specs(docs()))
    assert len(specs) == 2  # the master Job and the workers' Deployment
    for obj, pod in specs:
        name = obj["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in containers(pod):
            assert container["securityContext"] == api_container["securityContext"], name
            assert {"requests", "limits"} <= set(container["resources"]), name


def test_the_pieces_fit_together() -> None:
    master, workers = one("Job"), one("Deployment")
    master_pod = master["spec"]["template"]
    [master_container] = containers(master_pod["spec"])
    [worker_container] = containers(workers["spec"]["template"]["spec"])
    args = dict(a.removeprefix("--").split("=", 1) for a in master_container["args"] if "=" in a)
    assert int(args["expect-workers"]) == workers["spec"]["replicas"]
    service = one("Service")
    assert service["spec"]["selector"].items() <= master_pod["metadata"]["labels"].items()
    assert f"--master-host={service['metadata']['name']}" in worker_container["args"]
    api_service = load_docs((EXAMPLES / "inference-service.yaml").read_text(encoding="utf-8"))[0]
    host = f"http://{api_service['metadata']['name']}.{api_service['metadata']['namespace']}.svc"
    assert args["host"] == host
    for container in (master_container, worker_container):
        assert container["image"] == f"locustio/locust:{version('locust')}"  # the tested one
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert args["locustfile"] == f"{mounts['locustfile']}/locustfile.py"
    options = set(re.findall(r'\("--([a-z0-9-]+)"', LOCUSTFILE.read_text(encoding="utf-8")))
    for env in master_container["env"]:
        if env["name"].startswith("LOCUST_"):
            flag = env["name"].removeprefix("LOCUST_").lower().replace("_", "-")
            assert flag in options, env["name"]


def test_the_network_policy_selects_every_locust_pod() -> None:
    policy = one("NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for obj, _ in pod_specs(docs()):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), obj["metadata"]["name"]
