"""values.schema.json rejects typos and wrong types (helm template and lint both fail), and
the chart's own `fail` checks catch what a schema cannot express."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import CHART, helm_template
from tests.support.tools import run, tool

SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
VALUES = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))

# Kubernetes-native structures passed through verbatim: their fields are Kubernetes' to
# define and kubernetes-validate --strict checks them in the rendered output.
PASS_THROUGH = {
    "modelRepository.manifests[].manifest",  # model.yaml: the server validates it
    "api.extraEnv[]",
    "api.extraEnvFrom[]",
    "api.extraVolumes[]",
    "api.extraVolumeMounts[]",
    "api.affinity",
    "api.topologySpreadConstraints[]",
    "api.networkPolicy.allowedSources[]",
    "api.networkPolicy.extraEgress[]",
    "batch.config",  # the batch config file: the CLI validates it (`dimtensor-batch validate`)
    "batch.affinity",
    "batch.networkPolicy.extraEgress[]",
    "training.config",  # the training config file: the CLI validates it (exit 2)
    "training.extraEnv[]",
    "training.extraEnvFrom[]",
    "training.affinity",
    "training.networkPolicy.extraEgress[]",
}

TYPOS = {
    "unknown top-level key": ("replicaCount: 3", "additional properties 'replicaCount'"),
    "unknown component key": ("api: {autoscalling: {enabled: true}}", "'autoscalling'"),
    "unknown deep key": ("api: {probes: {readiness: {periodSecond: 5}}}", "'periodSecond'"),
    "unknown image key": ("image: {tags: latest}", "'tags'"),
    "string for integer": ("api: {replicaCount: '3'}", "/api/replicaCount"),
    "string for boolean": ("api: {auth: {enabled: 'yes'}}", "/api/auth/enabled"),
    "unknown enum value": ("modelRepository: {type: s3}", "/modelRepository/type"),
    "root UID": ("security: {runAsUser: 0}", "/security/runAsUser"),
    "unquoted model version": (
        "modelRepository: {manifests: [{name: m, version: 1, manifest: {}}]}",
        "/modelRepository/manifests/0/version",
    ),
    "bad digest": ("image: {digest: latest}", "/image/digest"),
    "toleration typo": ("api: {tolerations: [{key: a, efect: NoSchedule}]}", "'efect'"),
    "batch key typo": ("batch: {shard: 4}", "'shard'"),
    "batch persistence typo": ("batch: {persistence: {acessModes: []}}", "'acessModes'"),
    "string for shards": ("batch: {shards: '4'}", "/batch/shards"),
    "zero shards": ("batch: {shards: 0}", "/batch/shards"),
    "absolute output path": ("batch: {outputPath: /etc}", "/batch/outputPath"),
    "output path leaving the claim": ("batch: {outputPath: ../x}", "/batch/outputPath"),
    "config not a mapping": ("batch: {config: 'kind: sweep'}", "/batch/config"),
    "unknown concurrency policy": (
        "batch: {schedule: {concurrencyPolicy: Never}}",
        "/batch/schedule/concurrencyPolicy",
    ),
    "cron with four fields": ("batch: {schedule: {cron: '0 3 * *'}}", "/batch/schedule/cron"),
    "training key typo": ("training: {node: 2}", "'node'"),
    "zero training nodes": ("training: {nodes: 0}", "/training/nodes"),
    "unknown training device": ("training: {device: gpu}", "/training/device"),
    "absolute checkpoint path": ("training: {checkpointPath: /etc}", "/training/checkpointPath"),
    "checkpoint path leaving the claim": (
        "training: {checkpointPath: a/../../x}",
        "/training/checkpointPath",
    ),
    "training gpu typo": ("training: {gpu: {enable: true}}", "'enable'"),
    "training config not a mapping": ("training: {config: 'kind: pinn'}", "/training/config"),
    "HPA policy typo": (
        "api: {autoscaling: {behavior: {scaleUp: {policies: [{type: Pod, value: 1}]}}}}",
        "/api/autoscaling/behavior/scaleUp/policies/0/type",
    ),
}

FAILS = {
    "grace period too short": (
        "api: {terminationGracePeriodSeconds: 30}",
        "must exceed api.preStopSleepSeconds + api.config.gracefulTimeout (30)",
    ),
    "idle grace past the drain's end": (
        "api: {config: {gracefulTimeout: 5, drainIdleSeconds: 4.5}}",
        "api.config.drainIdleSeconds (4.5) must not exceed api.config.gracefulTimeout - 1 (4)",
    ),
    "auth without keys": ("api: {auth: {enabled: true}}", "api.auth.enabled needs"),
    "metrics auth without auth": ("api: {auth: {metrics: true}}", "api.auth.metrics needs"),
    "existing claim unnamed": ("modelRepository: {type: existingClaim}", "existingClaim must name"),
    "manifests on a claim": (
        "modelRepository: {type: pvc, manifests: [{name: m, version: '1', manifest: {}}]}",
        "works only with modelRepository.type=image",
    ),
    "duplicate manifest": (
        "modelRepository: {manifests: [{name: m, version: '1', manifest: {}},"
        " {name: m, version: '1', manifest: {}}]}",
        "lists m version 1 twice",
    ),
    "min above max": (
        "api: {autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 2}}",
        "must not exceed",
    ),
    "batch without config": ("batch: {enabled: true}", "batch.config is empty"),
    "more failed indexes than shards": (
        "batch: {enabled: true, config: {kind: sweep}, shards: 2, maxFailedIndexes: 3}",
        "batch.maxFailedIndexes (3) must not exceed batch.shards (2)",
    ),
    "one-pod claim with parallel pods": (
        "batch: {enabled: true, config: {kind: sweep}, shards: 4, parallelism: 2,"
        " persistence: {accessModes: [ReadWriteOncePod]}}",
        "ReadWriteOncePod lets one pod at a time",
    ),
    "batch checks with the API off": (
        "api: {enabled: false}\nbatch: {enabled: true}",
        "batch.config is empty",
    ),
    "training without config": ("training: {enabled: true}", "training.config is empty"),
    "one-pod checkpoint claim on several nodes": (
        "training: {enabled: true, config: {kind: pinn}, nodes: 2,"
        " persistence: {accessModes: [ReadWriteOncePod]}}",
        "ReadWriteOncePod lets one pod mount the checkpoints",
    ),
    "checkpoints in the model repository claim": (
        "modelRepository: {type: existingClaim, existingClaim: shared}\n"
        "training: {enabled: true, config: {kind: pinn}, persistence: {existingClaim: shared}}",
        "the model repository and the training checkpoints are one claim (shared)",
    ),
    "HPA without metrics": (
        "api: {autoscaling: {enabled: true, targetCPUUtilizationPercentage: null}}",
        "at least one metric",
    ),
}


def values_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_schema_rejects(case: str, tmp_path: Path) -> None:
    text, message = TYPOS[case]
    result = helm_template([values_file(tmp_path, text)])
    assert result.returncode != 0, f"{case} rendered:\n{result.stdout[:400]}"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


def test_lint_enforces_the_schema_too(tmp_path: Path) -> None:
    result = run(
        [
            tool("bin/helm"),
            "lint",
            "--strict",
            CHART,
            "-f",
            values_file(tmp_path, "api: {replica: 2}"),
        ]
    )
    assert result.returncode != 0
    assert "'replica'" in result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(FAILS))
def test_validate_values_fails(case: str, tmp_path: Path) -> None:
    text, message = FAILS[case]
    result = helm_template([values_file(tmp_path, text)])
    assert result.returncode != 0, f"{case} rendered"
    assert "VALUES VALIDATION" in result.stderr
    assert message in result.stderr, result.stderr


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) for every object schema, `[]` marking array items."""
    yield path, node
    for key, sub in node.get("properties", {}).items():
        yield from schema_nodes(sub, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")


def test_every_object_is_closed_or_a_declared_pass_through() -> None:
    assert SCHEMA["additionalProperties"] is False
    open_objects = set()
    for path, node in schema_nodes(SCHEMA):
        if node.get("type") != "object":
            continue
        if "properties" in node:
            assert node.get("additionalProperties") is False, path
        elif "additionalProperties" not in node:
            open_objects.add(path)
    assert open_objects == PASS_THROUGH


def test_schema_properties_mirror_values_yaml() -> None:
    def keys(values: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        props = schema.get("properties")
        if props is None or "description" in schema:
            return
        assert set(props) == set(values), f"{path or 'top'}: schema and values.yaml differ"
        for key, sub in props.items():
            if isinstance(values[key], dict):
                keys(values[key], sub, f"{path}.{key}" if path else key)

    keys(VALUES, SCHEMA, "")


def test_schema_defaults_and_descriptions_are_the_values_yaml_ones() -> None:
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    params = dict(re.findall(r"^\s*## @param (\S+) (.+)$", text, re.MULTILINE))
    described = 0
    for path, node in schema_nodes(SCHEMA):
        if "default" in node and "[]" not in path:
            value: Any = VALUES
            for part in path.split("."):
                value = value[part]
            assert node["default"] == value, path
            assert node["description"] == params[path].strip(), path
            described += 1
    assert described == len(params)
