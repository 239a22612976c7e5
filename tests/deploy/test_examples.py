"""The raw manifests in deploy/examples equal the chart's output for their values files.

Each values file (``values-examples.yaml`` for the API tier, ``values-examples-batch.yaml``
for the batch job) renders one group of files (conftest.EXAMPLE_SETS). Comparison is on
parsed objects, so the hand-written files keep their comments and layout; only what Helm adds
for itself (helm.sh/chart and managed-by labels, checksum/* annotations) is dropped from the
render. Any drift in either direction fails.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.support.chart import (
    EXAMPLE_MANIFESTS,
    EXAMPLE_SETS,
    EXAMPLE_VALUES,
    EXAMPLES,
    RELEASE,
    helm_template,
)
from tests.support.k8s import Doc, load_docs

MANIFESTS = EXAMPLE_MANIFESTS
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
Key = tuple[str, str]


def strip_helm_only(doc: Doc) -> Doc:
    doc = copy.deepcopy(doc)
    metas = [doc["metadata"]]
    spec = doc.get("spec", {})
    if "jobTemplate" in spec:  # a CronJob: its Job's metadata, then the Job's pod template
        metas.append(spec["jobTemplate"]["metadata"])
        spec = spec["jobTemplate"]["spec"]
    if "template" in spec:
        metas.append(spec["template"]["metadata"])
    for meta in metas:
        for label in HELM_ONLY_LABELS:
            meta.get("labels", {}).pop(label, None)
        annotations = {
            k: v for k, v in meta.get("annotations", {}).items() if not k.startswith("checksum/")
        }
        meta.pop("annotations", None)
        if annotations:
            meta["annotations"] = annotations
    return doc


def by_key(docs: list[Doc], where: str) -> dict[Key, Doc]:
    out: dict[Key, Doc] = {}
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in out, f"{key} twice in {where}"
        out[key] = doc
    return out


def chart_render(values: str, *extra: str) -> dict[Key, Doc]:
    # Release "dimtensor" into namespace "dimtensor": the names the examples use.
    result = helm_template([EXAMPLES / values], release="dimtensor", extra=["--skip-tests", *extra])
    assert result.returncode == 0, result.stderr
    return by_key([strip_helm_only(d) for d in load_docs(result.stdout)], f"the chart ({values})")


def example_files(values: str) -> dict[Key, Doc]:
    docs: list[Doc] = []
    for name in EXAMPLE_SETS[values]:
        docs += load_docs((EXAMPLES / name).read_text(encoding="utf-8"))
    return by_key(docs, f"deploy/examples for {values}")


def test_every_file_belongs_to_one_set() -> None:
    assert sorted(EXAMPLE_SETS) == [p.name for p in EXAMPLE_VALUES]
    grouped = [name for names in EXAMPLE_SETS.values() for name in names]
    assert sorted(grouped) == [p.name for p in MANIFESTS], "a manifest in no set, or in two"


@pytest.mark.parametrize("values", sorted(EXAMPLE_SETS))
def test_same_objects(values: str) -> None:
    assert sorted(example_files(values)) == sorted(chart_render(values))


@pytest.mark.parametrize("values", sorted(EXAMPLE_SETS))
def test_field_by_field(values: str) -> None:
    examples = example_files(values)
    for key, expected in chart_render(values).items():
        got = examples.get(key)
        assert got == expected, (
            f"{key} drifted from the chart; expected:\n{yaml.safe_dump(expected, sort_keys=False)}"
        )


def _instance_labels(node: object) -> list[object]:
    """Every value of an app.kubernetes.io/instance key, at any depth (labels and selectors)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "app.kubernetes.io/instance"]
        return found + [x for v in node.values() for x in _instance_labels(v)]
    if isinstance(node, list):
        return [x for v in node for x in _instance_labels(v)]
    return []


def test_examples_read_as_a_real_install() -> None:
    """Release and instance "dimtensor" in namespace "dimtensor", not the suite's CI release."""
    objects = {k: v for values in EXAMPLE_SETS for k, v in example_files(values).items()}
    assert objects
    for key, doc in objects.items():
        meta = doc["metadata"]
        assert meta["labels"]["app.kubernetes.io/instance"] == "dimtensor", key
        assert meta["namespace"] == "dimtensor", key
        assert meta["name"].startswith("dimtensor"), key
        assert set(_instance_labels(doc)) == {"dimtensor"}, (key, RELEASE)


def test_examples_carry_no_helm_bookkeeping() -> None:
    for path in MANIFESTS:
        text = path.read_text(encoding="utf-8")
        for marker in (*HELM_ONLY_LABELS, "checksum/", "{{", "Release."):
            assert marker not in text, f"{path.name} contains {marker!r}"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_example_documented(path: Path) -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert f"`{path.name}`" in readme


@pytest.mark.parametrize(
    ("values", "setting", "key"),
    [
        ("values-examples.yaml", "api.service.port=8081", ("Service", "dimtensor-api")),
        (
            "values-examples-batch.yaml",
            "batch.config.model=pendulum",
            ("ConfigMap", "dimtensor-batch"),
        ),
        (
            "values-examples-training.yaml",
            "training.config.steps=100",
            ("ConfigMap", "dimtensor-training"),
        ),
        (
            "values-examples-training-ddp.yaml",
            "training.nodes=3",
            ("Service", "dimtensor-ddp-training"),
        ),
    ],
)
def test_a_chart_change_is_a_drift(values: str, setting: str, key: Key) -> None:
    """The comparison is sensitive: the chart with one value changed no longer matches."""
    changed = chart_render(values, "--set", setting)
    assert changed[key] != example_files(values)[key]
