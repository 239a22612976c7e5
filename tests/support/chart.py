"""The chart as the tests render it: its scenarios (presets and ci/*-values.yaml), the supported
Kubernetes versions, `helm template` and a dry-run install's NOTES, and the raw manifests of
deploy/examples that mirror its renders."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.k8s import Doc, load_docs
from tests.support.paths import REPO
from tests.support.tools import run, tool

DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "dimtensor"
EXAMPLES = DEPLOY / "examples"

# Every minor from the chart's kubeVersion floor (>=1.30.0-0) to the newest schema
# kubernetes-validate 1.37.0 ships.
KUBE_VERSIONS = tuple(f"1.{minor}.0" for minor in range(30, 38))
DEFAULT_KUBE_VERSION = "1.35.0"
NAMESPACE = "dimtensor"
RELEASE = "ci"

PRESETS: dict[str, Path | None] = {
    "default": None,
    "inference": CHART / "values-inference.yaml",
    "gpu": CHART / "values-gpu.yaml",
    "batch": CHART / "values-batch.yaml",
    "training": CHART / "values-training.yaml",
}
CI_VALUES = {p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*.yaml"))}
SCENARIOS: dict[str, Path | None] = {**PRESETS, **CI_VALUES}

# Raw manifests in deploy/examples, grouped by the values file the chart renders them from
# (test_examples.py keeps each group equal to its render).
EXAMPLE_SETS: dict[str, tuple[str, ...]] = {
    "values-examples.yaml": (
        "hpa.yaml",
        "inference-deployment.yaml",
        "inference-ingress.yaml",
        "inference-service.yaml",
        "networkpolicy.yaml",
        "pdb.yaml",
    ),
    "values-examples-batch.yaml": ("batch-job.yaml",),
    "values-examples-training.yaml": ("training-job.yaml",),
    "values-examples-training-ddp.yaml": ("training-ddp.yaml",),
}
EXAMPLE_VALUES = sorted(EXAMPLES.glob("values-*.yaml"))
EXAMPLE_MANIFESTS = sorted(p for p in EXAMPLES.glob("*.yaml") if p not in EXAMPLE_VALUES)

# Kinds defined by CRDs: kubernetes-validate has no schema for them, test_validate.py
# checks them structurally instead.
CRD_API_VERSIONS = {"monitoring.coreos.com/v1"}


def helm_template(
    values: Sequence[Path | None] = (),
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    release: str = RELEASE,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with the given values files (None entries are ignored)."""
    cmd: list[str | Path] = [tool("bin/helm"), "template", release, CHART, "-n", NAMESPACE]
    cmd += ["--kube-version", kube_version]
    for path in values:
        if path is not None:
            cmd += ["-f", path]
    return run([*cmd, *extra])


def scenario_values(path: Path | None) -> Doc:
    """A scenario's own values (not merged with the chart defaults)."""
    if path is None:
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded or {}


def merged_values(scenario: str) -> Doc:
    """Chart defaults with the scenario's values on top (maps merge, everything else replaces)."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {k: merge(base.get(k), top[k]) if k in top else base[k] for k in base | top}
        return top

    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    result: Doc = merge(defaults, scenario_values(SCENARIOS[scenario]))
    return result


# Scenarios that deploy the API tier, those that run the batch job, and those that train.
API_SCENARIOS = sorted(s for s in SCENARIOS if merged_values(s)["api"]["enabled"])
BATCH_SCENARIOS = sorted(s for s in SCENARIOS if merged_values(s)["batch"]["enabled"])
TRAINING_SCENARIOS = sorted(s for s in SCENARIOS if merged_values(s)["training"]["enabled"])


@dataclass(frozen=True)
class Render:
    """One successful `helm template` output."""

    scenario: str
    kube_version: str
    text: str
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str) -> Doc:
        found = self.of_kind(kind)
        assert len(found) == 1, f"{self.scenario}: expected one {kind}, got {len(found)}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.of_kind(kind)}


def render(scenario: str, kube_version: str = DEFAULT_KUBE_VERSION) -> Render:
    """A scenario rendered for a Kubernetes version; a failed render fails the test."""
    result = helm_template([SCENARIOS[scenario]], kube_version=kube_version)
    assert result.returncode == 0, f"{scenario} @ {kube_version}:\n{result.stderr}"
    return Render(scenario, kube_version, result.stdout, load_docs(result.stdout))


def render_with(*values: Path | None, extra: tuple[str, ...] = ()) -> list[Doc]:
    """The chart rendered with these values files (None: defaults) and extra flags."""
    result = helm_template(list(values), extra=extra)
    assert result.returncode == 0, result.stderr
    return load_docs(result.stdout)


def notes(values: Path | None, *extra: str) -> str:
    """NOTES.txt of a client-only dry-run install (`helm template` does not render it)."""
    cmd: list[str | Path] = [tool("bin/helm"), "install", RELEASE, CHART, "-n", NAMESPACE]
    cmd += ["--dry-run=client", *extra]
    if values is not None:
        cmd += ["-f", values]
    result = run(cmd, env={"KUBECONFIG": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\nNOTES:\n", 1)[1]
