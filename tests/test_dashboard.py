"""The Grafana dashboard only queries series the service really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.metrics.series import METRIC_NAMES

DASHBOARD = (
    Path(__file__).resolve().parents[1] / "deploy/helm/dimtensor/dashboards/dimtensor-serve.json"
)
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "on", "ignoring", "and", "or", "unless", "le", "label_values",
}  # fmt: skip
SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in doc["templating"]["list"] if v.get("type") == "query"]
    return exprs


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: identifiers that are not functions,
    keywords, label names in by(...), label matchers, strings or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"\1", text)  # Grafana: (series, label)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", text):
        word = match.group()
        after = text[match.end() :].lstrip()
        if word in PROMQL_WORDS or after.startswith("("):
            continue
        names.add(word)
    return names


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_dashboard_has_the_panels_operators_need():
    doc = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in doc["panels"])
    for needed in (
        "requests per second",
        "latency percentiles",
        "errors by kind",
        "rows per request",
        "inference latency by model",
        "replicas",
    ):
        assert needed in titles, needed


def test_every_queried_metric_is_declared():
    for expr in queries():
        for name in metric_names(expr):
            assert base(name) in METRIC_NAMES, (name, expr)


@pytest.mark.anyio
async def test_every_queried_metric_is_really_exported(aclient: httpx.AsyncClient):
    body: dict[str, Any] = {
        "inputs": {
            "speed": {"value": [1, 2], "unit": "m/s"},
            "angle": {"value": 1, "unit": "rad"},
            "g": {"value": 9.8, "unit": "m/s^2"},
        }
    }
    await aclient.post("/predict", json=body)
    body["inputs"]["g"]["unit"] = "kg"
    await aclient.post("/predict", json=body)
    scraped = (await aclient.get("/metrics")).text
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in scraped.splitlines()
        if line and not line.startswith("#")
    }
    for expr in queries():
        for name in metric_names(expr):
            assert name in exported, (name, sorted(exported))


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le, model) (rate(a_bucket{x="y"}[5m]))', {"a_bucket"}),
        ('count(count by (pod) (b{state="ready"}))', {"b"}),
        ("max(c) / d", {"c", "d"}),
        ('label_values(e{ns=~"$ns"}, job)', {"e"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]):
    assert metric_names(expr) == names
