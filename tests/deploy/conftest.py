"""Shared pieces of the deploy tests: the offline tools, and the chart rendered once per
scenario (presets and ci/*-values.yaml) and supported Kubernetes version.

The tools live in <repo>/.tools (``bash scripts/install-tools.sh``); a missing tool fails
the test that needs it, it never skips.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "dimtensor"
EXAMPLES = DEPLOY / "examples"
TOOLS = REPO / ".tools"
INSTALL_HINT = "run `bash scripts/install-tools.sh` (make test runs it first)"

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

Doc = dict[str, Any]


def tool(relative: str) -> Path:
    """Path of an installed tool under .tools/, failing the test when it is missing."""
    path = TOOLS / relative
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: {INSTALL_HINT}", pytrace=False)
    return path


def run(
    cmd: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output; never raises on a non-zero exit."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
        cwd=cwd or REPO,
        timeout=240,
    )


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


def load_docs(text: str) -> list[Doc]:
    """The non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


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


def _render(scenario: str, kube_version: str) -> Render:
    result = helm_template([SCENARIOS[scenario]], kube_version=kube_version)
    assert result.returncode == 0, f"{scenario} @ {kube_version}:\n{result.stderr}"
    return Render(scenario, kube_version, result.stdout, load_docs(result.stdout))


@pytest.fixture(scope="session")
def renders() -> dict[tuple[str, str], Render]:
    """Every scenario rendered for every supported version, in parallel (helm is ~50 ms)."""
    tool("bin/helm")
    keys = [(s, v) for s in SCENARIOS for v in KUBE_VERSIONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda key: _render(*key), keys))
    return {(r.scenario, r.kube_version): r for r in done}


@pytest.fixture(scope="session")
def rendered(renders: dict[tuple[str, str], Render]) -> dict[str, Render]:
    """Every scenario at the default Kubernetes version."""
    return {s: renders[(s, DEFAULT_KUBE_VERSION)] for s in SCENARIOS}


def pod_specs(docs: Sequence[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(object, pod spec) for every workload: Pods, and templates of Deployments and Jobs."""
    for doc in docs:
        kind = doc["kind"]
        if kind == "Pod":
            yield doc, doc["spec"]
        elif kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield doc, doc["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: Doc) -> list[Doc]:
    """Init and regular containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec["containers"]]


# --- helpers of the job tiers' tests (test_batch.py, test_training.py) -----------------------


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


def env(c: Doc) -> dict[str, str]:
    """A container's literal environment variables (not those from a ``valueFrom``)."""
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def mounts(c: Doc) -> dict[str, Doc]:
    return {m["mountPath"]: m for m in c["volumeMounts"]}


def volume(pod: Doc, name: str) -> Doc:
    found = [v for v in pod["volumes"] if v["name"] == name]
    assert len(found) == 1, name
    one: Doc = found[0]
    return one


def assert_disabled_tier_renders_nothing_of_it(scenario: str, tier: str, tmp_path: Path) -> None:
    """A scenario's `tier` block with `enabled: false` renders byte for byte what the scenario
    renders without any such block: no value of the tier leaks into the other objects."""
    values = scenario_values(SCENARIOS[scenario])
    without, off = tmp_path / "without.yaml", tmp_path / "off.yaml"
    without.write_text(yaml.safe_dump({k: v for k, v in values.items() if k != tier}))
    off.write_text(yaml.safe_dump({**values, tier: {**values[tier], "enabled": False}}))
    expected, got = helm_template([without]), helm_template([off])
    assert expected.returncode == 0, expected.stderr
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected.stdout


def assert_job_named_by_its_spec(
    tier: str, job_of: Callable[[list[Doc]], Doc], preset: Path, changing: Sequence[str]
) -> Callable[..., str]:
    """A tier's Job is named ``<release>-dimtensor-<tier>-<8 hex of its spec>``: stable
    across renders and other tiers' values, new with every `changing` setting (and the image
    and resources), so `helm upgrade` replaces an immutable Job instead of failing.
    Returns the name function for further checks."""

    def job_name(*extra: str) -> str:
        name: str = job_of(render_with(preset, extra=extra))["metadata"]["name"]
        return name

    name = job_name()
    assert re.fullmatch(rf"{RELEASE}-dimtensor-{tier}-[0-9a-f]{{8}}", name), name
    assert job_name() == name, "the name is stable across renders"
    assert job_name("--set", "api.enabled=true", "--set", "api.replicaCount=5") == name
    for setting in (*changing, "image.tag=0.2.0", f"{tier}.resources.limits.memory=3Gi"):
        assert job_name("--set", setting) != name, setting
    return job_name


DISRUPTION_RULE: Doc = {
    "action": "Ignore",
    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
}


def expected_failure_rules(
    container: str, exit_codes: Mapping[int, tuple[str, str | None]]
) -> list[Doc]:
    """A job tier's podFailurePolicy rules: disruptions ignored first, then one rule per
    exit code that has an action, in the table's order."""
    return [DISRUPTION_RULE] + [
        {
            "action": action,
            "onExitCodes": {"containerName": container, "operator": "In", "values": [code]},
        }
        for code, (_, action) in exit_codes.items()
        if action is not None
    ]
