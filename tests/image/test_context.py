""".dockerignore lets the package's sources, metadata and pinned constraints into the build
context and keeps tests, caches, local environments, git data, docs and the chart out: read
from a real build of the context (a probe that copies all of it and lists it)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.images import engine
from tests.support.paths import REPO, wheel_packages

PROBE = """\
FROM {base}
COPY . /context
"""


@pytest.fixture(scope="module")
def context_files(image: str, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every file path the engine sends as the build context, relative to the repository."""
    tag = f"localhost/dimtensor-context-probe:{uuid.uuid4().hex[:8]}"
    dockerfile = tmp_path_factory.mktemp("probe") / "Dockerfile"
    dockerfile.write_text(PROBE.format(base=image))
    built = engine("build", "--pull=never", "-f", str(dockerfile), "-t", tag, str(REPO))
    assert built.returncode == 0, built.stderr
    try:
        listed = engine("run", "--rm", "--entrypoint=find", tag, "/context", "-type", "f")
    finally:
        engine("rmi", "--force", tag)
    assert listed.returncode == 0, listed.stderr
    return {line.removeprefix("/context/") for line in listed.stdout.split()}


def test_the_package_and_its_pins_are_in_the_context(context_files: set[str]) -> None:
    for needed in (
        "pyproject.toml",
        "README.md",
        "requirements/constraints.txt",
        "requirements/cuda.txt",
        "service/rest/app.py",
        "service/units/definitions.txt",
        "service/models/defaults/projectile/1/model.yaml",
        "scripts/trim-venv.sh",
    ):
        assert needed in context_files


def test_every_package_the_wheel_holds_is_in_the_context(context_files: set[str]) -> None:
    packages = wheel_packages()
    assert packages
    assert [p for p in packages if f"{p}/__init__.py" not in context_files] == []


@pytest.mark.parametrize(
    "kept_out",
    ["tests/", ".git/", ".venv/", ".tools/", "docs/", "deploy/", "examples/", "bench/", "out/"],
)
def test_what_the_image_does_not_need_stays_out(context_files: set[str], kept_out: str) -> None:
    assert not [f for f in context_files if f.startswith(kept_out)]


def test_no_byte_code_or_cache_travels(context_files: set[str]) -> None:
    assert not [f for f in context_files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    assert not [f for f in context_files if Path(f).parts[0].startswith(".")]
