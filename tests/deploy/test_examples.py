"""The raw manifests in deploy/examples equal the chart's output for values-examples.yaml.

Comparison is on parsed objects, so the hand-written files keep their comments and layout;
only what Helm adds for itself (helm.sh/chart and managed-by labels, checksum/* annotations)
is dropped from the render. Any drift in either direction fails.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import EXAMPLES, RELEASE, Doc, helm_template, load_docs

VALUES = EXAMPLES / "values-examples.yaml"
MANIFESTS = sorted(p for p in EXAMPLES.glob("*.yaml") if p != VALUES)
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
Key = tuple[str, str]


def strip_helm_only(doc: Doc) -> Doc:
    doc = copy.deepcopy(doc)
    metas = [doc["metadata"]]
    if "template" in doc.get("spec", {}):
        metas.append(doc["spec"]["template"]["metadata"])
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


@pytest.fixture(scope="module")
def chart_objects() -> dict[Key, Doc]:
    # Release "dimtensor" into namespace "dimtensor": the names the examples use.
    result = helm_template([VALUES], release="dimtensor", extra=["--skip-tests"])
    assert result.returncode == 0, result.stderr
    return by_key([strip_helm_only(d) for d in load_docs(result.stdout)], "the chart")


@pytest.fixture(scope="module")
def example_objects() -> dict[Key, Doc]:
    docs: list[Doc] = []
    for path in MANIFESTS:
        docs += load_docs(path.read_text(encoding="utf-8"))
    return by_key(docs, "deploy/examples")


def test_same_objects(chart_objects: dict[Key, Doc], example_objects: dict[Key, Doc]) -> None:
    assert sorted(example_objects) == sorted(chart_objects)


def test_field_by_field(chart_objects: dict[Key, Doc], example_objects: dict[Key, Doc]) -> None:
    for key, expected in chart_objects.items():
        got = example_objects.get(key)
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


def test_examples_read_as_a_real_install(example_objects: dict[Key, Doc]) -> None:
    """Release and instance "dimtensor" in namespace "dimtensor", not the suite's CI release."""
    assert example_objects
    for key, doc in example_objects.items():
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


def test_a_chart_change_is_a_drift(example_objects: dict[Key, Doc]) -> None:
    """The comparison is sensitive: the chart with one value changed no longer matches."""
    result = helm_template(
        [VALUES], release="dimtensor", extra=["--skip-tests", "--set", "api.service.port=8081"]
    )
    assert result.returncode == 0, result.stderr
    changed = by_key([strip_helm_only(d) for d in load_docs(result.stdout)], "the chart")
    key = ("Service", "dimtensor-api")
    assert changed[key] != example_objects[key]
