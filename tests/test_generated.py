"""Generated files are current: every row of ``scripts/generate.py`` (what ``make generate``
runs) finds nothing stale, and a check does fail once a generator's source changes under it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "scripts" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


GENERATE = _table()
ROWS = [
    pytest.param(g, id=g.name, marks=[pytest.mark.slow] if g.slow else [])
    for g in GENERATE.GENERATORS
]


@pytest.mark.parametrize("generator", ROWS)
def test_checked_in_files_are_what_the_generator_writes(generator: Any) -> None:
    done = subprocess.run(
        generator.argv(check=True),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_every_generator_writes_files_that_exist() -> None:
    for generator in GENERATE.GENERATORS:
        for path in generator.writes:
            assert (ROOT / path).exists(), f"{generator.name} writes {path}, which is missing"


# A source edit that the generated file must follow, per cheap generator: (folders the
# generator needs, copied into a scratch tree; the source file; text in it; its replacement).
SPOILS = {
    "chart-readme": (
        ("deploy/helm",),
        "deploy/helm/dimtensor/values.yaml",
        "## @param nameOverride Replaces",
        "## @param nameOverride Overrides",
    ),
    "locustfile-configmap": (
        ("loadtests", "deploy/examples/loadtest"),
        "loadtests/locustfile.py",
        '"""',
        '"""A line the ConfigMap does not have yet.\n',
    ),
    "model-reference": (
        ("service", "docs"),
        "service/models/manifest.py",
        "What a request gives,",
        "What a request sends,",
    ),
}


@pytest.mark.parametrize("name", sorted(SPOILS))
def test_a_stale_file_fails_the_check_and_generate_repairs_it(name: str, tmp_path: Path) -> None:
    folders, source, old, new = SPOILS[name]
    for folder in folders:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    spoilt = tmp_path / source
    text = spoilt.read_text(encoding="utf-8")
    assert old in text
    spoilt.write_text(text.replace(old, new, 1), encoding="utf-8")
    (generator,) = [g for g in GENERATE.GENERATORS if g.name == name]

    def run(*, check: bool) -> int:
        argv = generator.argv(check=check)
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120).returncode

    assert run(check=True) == 1
    assert run(check=False) == 0
    assert run(check=True) == 0


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate.py"), "--check", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "nosuch" in done.stdout
    assert "chart-readme" in done.stdout
