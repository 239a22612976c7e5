"""The offline validators over manifests: kubernetes-validate --strict for one Kubernetes
version, and checkov with the project's config and skip list (deploy/.checkov.yaml)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.chart import DEPLOY
from tests.support.tools import run, tool

CHECKOV_CONFIG = DEPLOY / ".checkov.yaml"

# checkov never reaches the network: no package update check, no Bridgecrew mapping download.
OFFLINE = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


def validate(files: list[Path], version: str) -> str:
    """Run kubernetes-validate --strict over files; returns its output, failing on any problem.

    kubernetes-validate only warns, exit 0, on a kind it has no schema for, so "Couldn't find
    schema" is a failure here."""
    result = run([tool("venv/bin/kubernetes-validate"), "--strict", "-k", version, *files])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Couldn't find schema" not in output, output
    assert not re.search(r"^(ERROR|WARN)", output, re.MULTILINE), output
    return output


def checkov(*args: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run checkov with the project's config and return its JSON report."""
    cmd: list[str | Path] = [
        tool("venv/bin/checkov"),
        "--config-file",
        CHECKOV_CONFIG,
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
