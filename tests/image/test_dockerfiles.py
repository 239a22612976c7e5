"""Both Dockerfiles lint clean, agree with each other where they must, carry the version the
package and the chart carry, and run the container as the chart runs its pods. No image is
built here: these read files and the rendered chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tomllib
import yaml

from tests.support.chart import CHART
from tests.support.chart import helm_template as render_chart
from tests.support.images import run_options, script
from tests.support.k8s import containers, load_docs, mounts, pod_specs
from tests.support.paths import REPO, wheel_packages
from tests.support.tools import run, tool
from tests.support.validators import OFFLINE

DOCKERFILES = {"cpu": REPO / "Dockerfile", "gpu": REPO / "Dockerfile.gpu"}


def instructions(text: str, keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [m.group(1).strip() for m in re.finditer(rf"^{keyword}\s+(.+)$", joined, re.M)]


def runtime_stage(text: str) -> str:
    """The last stage: what the image is made of."""
    return text.rsplit("\nFROM ", 1)[1]


def arg_default(text: str, name: str) -> str:
    found = [a.split("=", 1)[1] for a in instructions(text, "ARG") if a.startswith(f"{name}=")]
    (value,) = found
    return value.strip('"')


@pytest.mark.parametrize("variant", DOCKERFILES)
def test_hadolint_passes(variant: str) -> None:
    result = run([tool("venv/bin/hadolint"), DOCKERFILES[variant]])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", DOCKERFILES)
def test_checkov_reports_no_unexplained_failure(variant: str) -> None:
    cmd: list[str | Path] = [tool("venv/bin/checkov"), "--skip-download", "-o", "json"]
    cmd += ["--framework", "dockerfile"]
    result = run([*cmd, "-f", DOCKERFILES[variant]], env=OFFLINE)
    report = json.loads(result.stdout)
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["passed"] > 100, "checkov checked too little to mean anything"
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"]["suppress_comment"]
        assert len(reason) > 20, f"{skipped['check_id']} skipped without a reason"


def test_one_version_everywhere() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    for path in DOCKERFILES.values():
        assert arg_default(path.read_text(), "VERSION") == version, path.name
    values = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    repository = f"{values['registry']}/{values['repository']}"
    assert script("tag", "cpu").strip() == f"{repository}:{version}"
    assert script("tag", "gpu").strip() == f"{repository}:{version}-cuda"


def test_both_images_share_user_entrypoint_and_layout() -> None:
    """The GPU image is the CPU image on another base: same user, HOME, PATH, entrypoint."""
    stages = {v: runtime_stage(p.read_text()) for v, p in DOCKERFILES.items()}
    for keyword in ("USER", "ENTRYPOINT", "CMD", "EXPOSE", "WORKDIR", "COPY"):
        assert instructions(stages["cpu"], keyword) == instructions(stages["gpu"], keyword)
    for text in stages.values():
        assert instructions(text, "RUN") == [], "a RUN here would keep the build's mount points"
    for path in DOCKERFILES.values():
        assert "COPY scripts/trim-venv.sh /usr/local/bin/trim-venv" in path.read_text()
    assert "IMAGE_ACCELERATOR=cpu" in stages["cpu"]
    assert "IMAGE_ACCELERATOR=cuda" in stages["gpu"]


def test_the_container_runs_as_the_chart_runs_the_api_pod() -> None:
    """``scripts/image.sh run-options`` (make image-run, the image tests) and the Dockerfile
    say what the chart's API pod says: user, read-only root, capabilities, volumes, HOME."""
    result = render_chart()
    assert result.returncode == 0, result.stderr
    docs = load_docs(result.stdout)
    (pod,) = [spec for doc, spec in pod_specs(docs) if doc["kind"] == "Deployment"]
    (api,) = containers(pod)
    security = api["securityContext"]
    options = set(run_options())
    user = f"{security['runAsUser']}:{security['runAsGroup']}"
    assert f"--user={user}" in options
    assert security["readOnlyRootFilesystem"] is True
    assert "--read-only" in options
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "--cap-drop=ALL" in options
    assert security["allowPrivilegeEscalation"] is False
    assert "--security-opt=no-new-privileges" in options
    tmpfs = {o.split("=", 1)[1].split(":")[0] for o in options if o.startswith("--tmpfs=")}
    volumes = {v["name"]: v for v in pod["volumes"]}
    empty_dirs = {p for p, m in mounts(api).items() if "emptyDir" in volumes[m["name"]]}
    assert tmpfs == empty_dirs
    (config,) = [d["data"] for d in docs if d["kind"] == "ConfigMap" and "HOME" in d["data"]]
    assert f"--env=PROMETHEUS_MULTIPROC_DIR={config['PROMETHEUS_MULTIPROC_DIR']}" in options
    stage = runtime_stage(DOCKERFILES["cpu"].read_text())
    assert instructions(stage, "USER") == [user]
    assert f"HOME={config['HOME']}" in stage
    assert instructions(stage, "EXPOSE") == [str(api["ports"][0]["containerPort"])]


def test_every_package_the_wheel_holds_is_copied_into_both_images() -> None:
    """pyproject's package list is what the wheel installs from /src: a package no COPY brings
    (jobkit, which the entrypoint imports, is one) would be missing from the image."""
    packages = set(wheel_packages())
    for variant, path in DOCKERFILES.items():
        copied = {args.split()[0] for args in instructions(path.read_text(), "COPY")}
        assert packages <= copied, (variant, sorted(packages - copied))
