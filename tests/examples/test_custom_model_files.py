"""examples/custom-model's files agree with the project and with each other: the Containerfile
lints clean and derives from the tag the project's build gives, the chart values render into
valid objects that run the derived image on the repository claim, and the README shows the
package's real entry point. Nothing is built or run here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import tomllib
import yaml

from tests.support.chart import CHART, DEFAULT_KUBE_VERSION, DEPLOY, KUBE_VERSIONS, helm_template
from tests.support.custom_model import ARCHITECTURE, EXAMPLE
from tests.support.images import script
from tests.support.k8s import containers, load_docs, mounts, pod_specs, volume
from tests.support.tools import run, tool
from tests.support.validators import OFFLINE, validate

CONTAINERFILE = EXAMPLE / "Containerfile"
VALUES = EXAMPLE / "values.yaml"
PYPROJECT = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_containerfile_lints_clean() -> None:
    result = run([tool("venv/bin/hadolint"), CONTAINERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_reports_no_unexplained_failure(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"  # the name checkov's dockerfile framework reads
    shutil.copy(CONTAINERFILE, dockerfile)
    cmd: list[str | Path] = [tool("venv/bin/checkov"), "--skip-download", "-o", "json"]
    cmd += ["--framework", "dockerfile"]
    result = run([*cmd, "-f", dockerfile], env=OFFLINE)
    report = json.loads(result.stdout)
    assert report["results"]["failed_checks"] == []
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"]["suppress_comment"]
        assert len(reason) > 20, f"{skipped['check_id']} skipped without a reason"


def test_the_containerfile_derives_from_the_projects_cpu_image_and_runs_nothing_at_the_end():
    text = CONTAINERFILE.read_text(encoding="utf-8")
    (base,) = re.findall(r"^ARG BASE=(\S+)$", text, re.M)
    assert base == script("tag", "cpu").strip()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${BASE}", "${BASE}"]
    final = text.rsplit("\nFROM ", 1)[1]
    assert not re.search(r"^RUN ", final, re.M), "the final stage holds only the copied files"
    assert re.findall(r"^USER (\S+)$", final, re.M) == ["10001:10001"]


def test_the_chart_values_run_the_derived_image_on_the_repository_claim() -> None:
    result = helm_template([VALUES])
    assert result.returncode == 0, result.stderr
    docs = load_docs(result.stdout)
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    (pod,) = [spec for doc, spec in pod_specs(docs) if doc["kind"] == "Deployment"]
    (api,) = containers(pod)
    image = values["image"]
    assert api["image"] == f"{image['registry']}/{image['repository']}:{image['tag']}"
    assert image["tag"] == PYPROJECT["project"]["version"]
    (config,) = [d["data"] for d in docs if d["kind"] == "ConfigMap" and "HOME" in d["data"]]
    repository = mounts(api)[config["MODEL_REPOSITORY"]]
    assert repository["readOnly"] is True
    claim = volume(pod, repository["name"])["persistentVolumeClaim"]
    assert claim["claimName"] == values["modelRepository"]["existingClaim"]
    assert not [d for d in docs if d["kind"] == "Pod"], "no helm test pod asks for projectile"


def test_the_yaml_files_lint_clean_and_the_chart_lints_with_the_values() -> None:
    yamllint: list[str | Path] = [
        tool("venv/bin/yamllint"),
        "--strict",
        "-c",
        DEPLOY / ".yamllint.yaml",
    ]
    result = run([*yamllint, VALUES, EXAMPLE / "sweep.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([tool("bin/helm"), "lint", "--strict", CHART, "-f", VALUES])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_values_validate_for_the_oldest_and_default_kubernetes(tmp_path: Path):
    for version in (KUBE_VERSIONS[0], DEFAULT_KUBE_VERSION):
        result = helm_template([VALUES], kube_version=version)
        assert result.returncode == 0, result.stderr
        path = tmp_path / f"{version}.yaml"
        path.write_text(result.stdout, encoding="utf-8")
        validate([path], version)


def test_the_readme_shows_the_packages_entry_point() -> None:
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    offered = PYPROJECT["project"]["entry-points"]["dimtensor_serve.architectures"]
    assert list(offered) == [ARCHITECTURE]
    assert f'{ARCHITECTURE} = "{offered[ARCHITECTURE]}"' in readme
    assert f"dimtensor-example-models:{PYPROJECT['project']['version']}" in readme
