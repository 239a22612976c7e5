"""Linters: helm lint --strict per preset and CI file, yamllint, shellcheck, install-tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.chart import CHART, DEPLOY, SCENARIOS
from tests.support.paths import REPO
from tests.support.tools import run, tool

SHELL_SCRIPTS = [*sorted((REPO / "scripts").glob("*.sh")), DEPLOY / "test-deployment.sh"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict(scenario: str) -> None:
    values = SCENARIOS[scenario]
    cmd: list[str | Path] = [tool("bin/helm"), "lint", "--strict", CHART]
    if values is not None:
        cmd += ["-f", values]
    result = run(cmd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_yamllint_manifests_presets_and_ci_values() -> None:
    targets = ["examples", "helm/dimtensor/ci", ".checkov.yaml", ".yamllint.yaml"]
    targets += [p.relative_to(DEPLOY).as_posix() for p in sorted(CHART.glob("*.yaml"))]
    result = run(
        [tool("venv/bin/yamllint"), "--strict", "-f", "parsable", "-c", ".yamllint.yaml", *targets],
        cwd=DEPLOY,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    result = run([tool("venv/bin/shellcheck"), "--severity=style", "--shell=bash", script])
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_tools_installs_nothing_when_done(tmp_path: Path) -> None:
    """A second run touches no package manager: every installer it could call is a stub
    that records the call and fails, no Python can make a venv, and pip has no index."""
    tool("bin/helm")
    stubs, calls = tmp_path / "stubs", tmp_path / "calls"
    stubs.mkdir()
    for name in ("apt-get", "apt-cache", "sudo", "pip", "pip3", "curl", "wget"):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        stub.chmod(0o755)
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "PYTHON": "/bin/false", "PIP_NO_INDEX": "1"}
    result = run(["bash", REPO / "scripts" / "install-tools.sh"], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
    assert not calls.exists(), calls.read_text()


def test_helm_package(tmp_path: Path) -> None:
    result = run([tool("bin/helm"), "package", CHART, "-d", tmp_path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dimtensor-0.1.0.tgz").is_file()
