"""Kubernetes objects as the tests read them: parsed YAML documents, their pod specs,
containers, environment, mounts and volumes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

Doc = dict[str, Any]


def load_docs(text: str) -> list[Doc]:
    """The non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


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


def env(c: Doc) -> dict[str, str]:
    """A container's literal environment variables (not those from a ``valueFrom``)."""
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def mounts(c: Doc) -> dict[str, Doc]:
    """A container's volume mounts by mount path."""
    return {m["mountPath"]: m for m in c["volumeMounts"]}


def volume(pod: Doc, name: str) -> Doc:
    """The one volume of a pod spec called `name`."""
    found = [v for v in pod["volumes"] if v["name"] == name]
    assert len(found) == 1, name
    one: Doc = found[0]
    return one
