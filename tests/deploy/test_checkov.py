"""checkov (kubernetes and helm frameworks) reports no failed check.

Skips live in deploy/.checkov.yaml, one check a line, each with its reason as a comment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.deploy.conftest import (
    CHART,
    DEPLOY,
    EXAMPLE_MANIFESTS,
    NAMESPACE,
    TOOLS,
    Render,
    run,
    tool,
)

CONFIG = DEPLOY / ".checkov.yaml"
OFFLINE = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


def checkov(*args: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run checkov with the project's config and return its JSON report."""
    cmd: list[str | Path] = [
        tool("venv/bin/checkov"),
        "--config-file",
        CONFIG,
        "--skip-download",
        "-o",
        "json",
    ]
    result = run([*cmd, *args], env={**OFFLINE, **(env or {})})
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as exc:  # shows checkov's own error
        raise AssertionError(result.stdout + result.stderr) from exc
    reports = report if isinstance(report, list) else [report]
    assert reports, result.stdout
    merged: dict[str, Any] = {"failed": [], "passed": 0, "parsing_errors": 0, "resources": 0}
    for rep in reports:
        summary = rep["summary"]
        merged["passed"] += summary["passed"]
        merged["parsing_errors"] += summary["parsing_errors"]
        merged["resources"] += summary["resource_count"]
        merged["failed"] += [
            f"{c['check_id']} {c['resource']} ({c['file_path']})"
            for c in rep["results"]["failed_checks"]
        ]
    return merged


def test_kubernetes_framework_over_rendered_scenarios_and_examples(
    rendered: dict[str, Render], tmp_path: Path
) -> None:
    for scenario, render in rendered.items():
        (tmp_path / f"{scenario}.yaml").write_text(render.text, encoding="utf-8")
    for example in EXAMPLE_MANIFESTS:
        (tmp_path / f"example-{example.name}").write_bytes(example.read_bytes())
    report = checkov("--framework", "kubernetes", "-d", tmp_path)
    assert report["failed"] == [], "\n".join(report["failed"])
    assert report["parsing_errors"] == 0
    assert report["passed"] > 500, report  # it really looked at the objects


def test_helm_framework_over_the_chart() -> None:
    # checkov runs `helm template` itself: put our helm first on PATH, and render into a
    # named namespace as a real install does (CKV_K8S_21 flags "default").
    path = f"{TOOLS / 'bin'}:{Path('/usr/bin')}:{Path('/bin')}"
    tool("bin/helm")
    report = checkov(
        "--framework", "helm", "-d", CHART, env={"PATH": path, "HELM_NAMESPACE": NAMESPACE}
    )
    assert report["failed"] == [], "\n".join(report["failed"])
    assert report["parsing_errors"] == 0
    assert report["passed"] > 100, report


def test_every_skip_is_justified_on_its_line() -> None:
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    start = lines.index("skip-check:")
    skips = [line for line in lines[start + 1 :] if line.startswith("  - ")]
    assert skips, "no skip list"
    for line in skips:
        m = re.fullmatch(r"  - (CKV2?_K8S_\d+)  # (.{20,})", line)
        assert m, f"skip without a one-line reason: {line!r}"
