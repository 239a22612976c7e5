"""Every scenario renders for every supported Kubernetes minor, and the output (plus the raw
manifests in deploy/examples) passes `kubernetes-validate --strict` for that version.

kubernetes-validate only warns, exit 0, on a kind it has no schema for, so "Couldn't find
schema" is a failure here; CRD kinds (ServiceMonitor) are taken out first and checked
structurally by test_servicemonitor_structure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.chart import (
    CRD_API_VERSIONS,
    EXAMPLE_MANIFESTS,
    KUBE_VERSIONS,
    SCENARIOS,
    Render,
    helm_template,
)
from tests.support.k8s import Doc
from tests.support.tools import run, tool
from tests.support.validators import validate

EXAMPLE_FILES = EXAMPLE_MANIFESTS


def write_core_docs(docs: list[Doc], path: Path) -> None:
    core = [d for d in docs if d["apiVersion"] not in CRD_API_VERSIONS]
    path.write_text(yaml.safe_dump_all(core, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_scenario_and_example_validates(
    version: str, renders: dict[tuple[str, str], Render], tmp_path: Path
) -> None:
    files = []
    for scenario in SCENARIOS:
        path = tmp_path / f"{scenario}.yaml"
        write_core_docs(renders[(scenario, version)].docs, path)
        files.append(path)
    output = validate([*files, *EXAMPLE_FILES], version)
    minor = version.rsplit(".", 1)[0]
    assert f"against version {minor}" in output


def test_every_rendered_kind_is_known(rendered: dict[str, Render]) -> None:
    kinds = {(d["apiVersion"], d["kind"]) for r in rendered.values() for d in r.docs}
    crds = {k for k in kinds if k[0] in CRD_API_VERSIONS}
    assert crds == {("monitoring.coreos.com/v1", "ServiceMonitor")}


def test_strict_validation_catches_an_unknown_field(
    rendered: dict[str, Render], tmp_path: Path
) -> None:
    deployment = rendered["default"].one("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run([tool("venv/bin/kubernetes-validate"), "--strict", "-k", "1.35.0", path])
    assert result.returncode != 0, result.stdout


def test_unknown_kind_is_caught_by_our_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "crd.yaml"
    path.write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError, match="Couldn't find schema"):
        validate([path], "1.35.0")


@pytest.mark.parametrize("version", ["1.28.0", "1.29.0"])
def test_older_kubernetes_is_refused(version: str) -> None:
    result = helm_template(kube_version=version)
    assert result.returncode != 0
    assert "incompatible with Kubernetes" in result.stderr


def test_servicemonitor_structure(rendered: dict[str, Render]) -> None:
    """monitoring.coreos.com/v1 ServiceMonitor: the fields the operator needs, and that they
    point at the rendered Service."""
    checked = 0
    for render in rendered.values():
        services = {s["metadata"]["name"]: s for s in render.of_kind("Service")}
        for sm in render.of_kind("ServiceMonitor"):
            checked += 1
            assert set(sm) == {"apiVersion", "kind", "metadata", "spec"}
            assert set(sm["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
            assert sm["spec"]["namespaceSelector"] == {"matchNames": [sm["metadata"]["namespace"]]}
            selector = sm["spec"]["selector"]["matchLabels"]
            matched = [
                s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()
            ]
            assert len(matched) == 1, f"{render.scenario}: selector matches {len(matched)}"
            port_names = {p["name"] for p in matched[0]["spec"]["ports"]}
            for endpoint in sm["spec"]["endpoints"]:
                assert set(endpoint) <= {
                    "port",
                    "path",
                    "interval",
                    "scrapeTimeout",
                    "authorization",
                }
                assert endpoint["port"] in port_names
                assert endpoint["path"] == "/metrics"
                for key in ("interval", "scrapeTimeout"):
                    assert re.fullmatch(r"([0-9]+(ms|s|m|h))+", endpoint[key])
                if "authorization" in endpoint:
                    auth = endpoint["authorization"]
                    assert auth["type"] == "Bearer"
                    assert auth["credentials"]["name"]
                    assert auth["credentials"]["key"]
    assert checked, "no scenario renders a ServiceMonitor"
