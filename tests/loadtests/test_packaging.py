"""loadtests ships like the other packages: every folder of modules is a package, and the
data the tools read (the SLO file, the recorded timelines) is package data; Locust is an
extra, never a runtime dependency of the server."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def section(name: str) -> str:
    """The text of one `[name]` table of pyproject.toml."""
    match = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", PYPROJECT, re.M | re.S)
    assert match, name
    return match.group(1)


def test_every_folder_of_modules_is_a_package() -> None:
    folders = {p.parent for p in (ROOT / "loadtests").rglob("*.py")}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert missing == []


def test_setuptools_finds_it_with_its_data() -> None:
    assert '"loadtests*"' in section("tool.setuptools.packages.find")
    assert '"loadtests" = ["*.yaml", "timelines/**/*"]' in section("tool.setuptools.package-data")


def test_locust_is_a_load_extra_and_a_dev_dependency_not_a_runtime_one() -> None:
    extras = section("project.optional-dependencies")
    assert re.search(r'^load = \["locust[^"]*"\]', extras, re.M)
    assert re.search(r'^dev = \[.*?"locust[^"]*"', extras, re.M | re.S)
    runtime = section("project").split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "locust" not in runtime
