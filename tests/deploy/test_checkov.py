"""checkov (kubernetes and helm frameworks) reports no failed check.

Skips live in deploy/.checkov.yaml, one check a line, each with its reason as a comment.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.chart import CHART, EXAMPLE_MANIFESTS, NAMESPACE, Render
from tests.support.paths import TOOLS
from tests.support.tools import tool
from tests.support.validators import CHECKOV_CONFIG, checkov


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
    lines = CHECKOV_CONFIG.read_text(encoding="utf-8").splitlines()
    start = lines.index("skip-check:")
    skips = [line for line in lines[start + 1 :] if line.startswith("  - ")]
    assert skips, "no skip list"
    for line in skips:
        m = re.fullmatch(r"  - (CKV2?_K8S_\d+)  # (.{20,})", line)
        assert m, f"skip without a one-line reason: {line!r}"
