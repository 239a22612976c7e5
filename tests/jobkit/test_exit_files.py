"""The exit table is the one source: the chart's podFailurePolicy (rendered with helm
template), the raw examples' policies and the docs' tables all read as the table gives them,
and a file that drifts from it is named by ``python -m jobkit.exits write --check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jobkit import exit_files
from jobkit.exit_files import DOCS, EXAMPLES, JOBS, markdown, pod_failure_policy
from tests.support.chart import CHART, helm_template
from tests.support.k8s import Doc, load_docs
from tests.support.paths import REPO

# The chart's presets that turn each Job on, and the Job's kind of object in the render.
PRESETS = {"batch": CHART / "values-batch.yaml", "training": CHART / "values-training.yaml"}


def _job_spec(docs: list[Doc], job: str) -> Doc:
    for doc in docs:
        labels = doc.get("metadata", {}).get("labels", {})
        if doc.get("kind") == "Job" and labels.get("app.kubernetes.io/component") == job:
            spec: Doc = doc["spec"]
            return spec
    raise AssertionError(f"no {job} Job in the render")


@pytest.mark.parametrize("job", sorted(JOBS))
def test_the_charts_policy_is_the_tables(job: str) -> None:
    result = helm_template([PRESETS[job]], extra=["--skip-tests"])
    assert result.returncode == 0, result.stderr
    command, container = JOBS[job]
    spec = _job_spec(load_docs(result.stdout), job)
    assert spec["podFailurePolicy"] == pod_failure_policy(command, container)


@pytest.mark.parametrize("path", sorted(EXAMPLES), ids=lambda p: p.name)
def test_each_raw_example_policy_is_the_tables(path: Path) -> None:
    command, container = JOBS[EXAMPLES[path]]
    (job,) = [d for d in load_docs(path.read_text(encoding="utf-8")) if d["kind"] == "Job"]
    assert job["spec"]["podFailurePolicy"] == pod_failure_policy(command, container)


@pytest.mark.parametrize("path", sorted(DOCS), ids=lambda p: p.name)
def test_each_docs_table_is_the_tables(path: Path) -> None:
    assert markdown(DOCS[path]) in path.read_text(encoding="utf-8")


def test_no_generated_file_is_stale() -> None:
    assert exit_files.stale() == []


def test_a_drifted_file_is_named_and_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy edited by hand (exit 3 made retryable) is stale until ``write`` rewrites it."""
    source = next(p for p, job in EXAMPLES.items() if job == "batch")
    copy = tmp_path / source.name
    copy.write_text(
        source.read_text(encoding="utf-8").replace("action: FailIndex", "action: Count"),
        encoding="utf-8",
    )
    monkeypatch.setattr(exit_files, "EXAMPLES", {copy: "batch"})
    monkeypatch.setattr(exit_files, "DOCS", {})
    assert exit_files.stale() == [copy]
    assert exit_files.write() == [copy]
    assert exit_files.stale() == []
    assert copy.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")


def test_the_check_command_passes_on_the_checked_in_files() -> None:
    argv = [sys.executable, "-m", "jobkit.exits", "write", "--check"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_printed_policy_is_yaml_of_the_tables() -> None:
    argv = [sys.executable, "-m", "jobkit.exits", "pod-failure-policy", "batch", "batch"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True)
    assert yaml.safe_load(done.stdout) == {"podFailurePolicy": pod_failure_policy("batch", "batch")}
