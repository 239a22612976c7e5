"""Docs stay complete: every value has a `## @param` line, the chart README's parameter
table lists exactly those, and the deployment guide has a section on each topic an operator
needs (prerequisites, GPUs, upgrades, batch and training jobs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import (
    API_SCENARIOS,
    CHART,
    DEPLOY,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    Render,
    scenario_values,
)
from tests.support.paths import REPO
from tests.support.tools import run, tool

VALUES_TEXT = (CHART / "values.yaml").read_text(encoding="utf-8")
VALUES = yaml.safe_load(VALUES_TEXT)
PARAMS = re.findall(r"^\s*## @param (\S+) \S", VALUES_TEXT, re.MULTILINE)
README = (CHART / "README.md").read_text(encoding="utf-8")


def leaves(node: Any, path: str = "") -> set[str]:
    """Paths a @param must describe: scalars, lists and empty maps (non-empty maps recurse)."""
    if isinstance(node, dict) and node:
        out: set[str] = set()
        for key, value in node.items():
            out |= leaves(value, f"{path}.{key}" if path else key)
        return out
    return {path}


def covered(path: str, params: set[str]) -> bool:
    """A path is described by its own @param or by one on a map above it."""
    parts = path.split(".")
    return any(".".join(parts[:i]) in params for i in range(1, len(parts) + 1))


def test_every_value_has_a_param_line() -> None:
    params = set(PARAMS)
    missing = sorted(p for p in leaves(VALUES) if not covered(p, params))
    assert not missing, f"values without ## @param: {missing}"


def test_every_param_line_names_a_value() -> None:
    assert len(PARAMS) == len(set(PARAMS)), "a @param is repeated"
    for path in PARAMS:
        node: Any = VALUES
        for part in path.split("."):
            assert isinstance(node, dict), path
            assert part in node, f"@param {path} names no value"
            node = node[part]


def test_every_section_is_marked() -> None:
    sections = re.findall(r"^## @section (.+)$", VALUES_TEXT, re.MULTILINE)
    assert len(sections) >= 5
    for top in VALUES:
        assert re.search(rf"^{top}:", VALUES_TEXT, re.MULTILINE)


def test_readme_table_lists_every_param() -> None:
    rows = re.findall(r"^\| `([^`]+)` \|", README, re.MULTILINE)
    params_block = README.split("<!-- params:start -->", 1)[1]
    in_table = [r for r in rows if f"| `{r}` |" in params_block]
    assert sorted(in_table) == sorted(PARAMS)


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.30.0-0"
    assert chart["keywords"]
    assert chart["appVersion"] == "0.1.0"
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{chart["appVersion"]}"' in pyproject, "appVersion is the package version"


def test_deployment_guide_sections() -> None:
    guide = (DEPLOY / "README.md").read_text(encoding="utf-8").lower()
    for topic in (
        "## prerequisites",
        "## quick start",
        "## gpu",
        "nvidia device plugin",
        "## upgrade",
        "rollback",
        "test-deployment.sh",
        "install-tools.sh",
        "deploy/examples",
        "## batch jobs",
        "podfailurepolicy",
        "backofflimitperindex",
        "what survives a kill",
        "readwritemany",
        "### upgrading a job",
        "## training jobs",
        "pet_master_addr",
        "publishnotreadyaddresses",
        "trainjob",
        "jobset",
        "terminationgraceperiodseconds",
        "training.gpu.enabled",
    ):
        assert topic in guide, topic


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_notes_render_with_a_curl_with_units(scenario: str, rendered: dict[str, Render]) -> None:
    """NOTES.txt is not part of `helm template`: a client-only dry-run install renders it."""
    cmd: list[str | Path] = [tool("bin/helm"), "install", RELEASE, CHART, "-n", NAMESPACE]
    cmd += ["--dry-run=client"]
    values = SCENARIOS[scenario]
    if values is not None:
        cmd += ["-f", values]
    result = run(cmd, env={"KUBECONFIG": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("\nNOTES:\n", 1)[1]
    if scenario not in API_SCENARIOS:
        services = rendered[scenario].of_kind("Service")
        owners = {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in services}
        assert "api" not in owners, owners
        assert "curl" not in notes, notes
        assert "export API=" not in notes, notes
        return
    service = rendered[scenario].one("Service")["metadata"]["name"]
    assert f"http://{service}.{NAMESPACE}.svc.cluster.local:" in notes
    assert "export API=" in notes
    assert 'curl -s "$API/predict"' in notes
    assert '"speed": {"value": 72, "unit": "km/h"}' in notes
    auth = scenario_values(values).get("api", {}).get("auth", {}).get("enabled", False)
    assert ("Authorization: Bearer $API_KEY" in notes) == auth
