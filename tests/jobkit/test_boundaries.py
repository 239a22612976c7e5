"""Who may import whom: training builds on jobkit and never on batch, batch never knows
training, and jobkit imports no server code, torch or dimtensor (the image's entrypoint reads
it before it hands over). Checked twice: statically over every module's imports (``ast``), and
in a fresh interpreter by what importing a package leaves in ``sys.modules``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

# package -> top-level packages it must never import (or, for names, mention in its code)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "training": ("batch",),
    "batch": ("training",),
    "jobkit": ("service", "torch", "dimtensor", "batch", "training", "container"),
    "container": ("service", "batch", "training"),  # torch: only inside the GPU check
}


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("package", "path"),
    [(p, m) for p in FORBIDDEN for m in modules(p)],
    ids=lambda x: str(x.relative_to(REPO)) if isinstance(x, Path) else x,
)
def test_no_module_imports_a_forbidden_package(package: str, path: Path) -> None:
    assert not imported(path) & set(FORBIDDEN[package])


def test_batch_names_no_training_module() -> None:
    """Not even in a string: a config kind, an error location or a path of training's."""
    for path in modules("batch"):
        text = path.read_text(encoding="utf-8")
        for word in ("training", "pinn", "surrogate"):
            assert word not in text, f"{path.relative_to(REPO)} names {word!r}"


def loaded_by(statement: str) -> set[str]:
    """Top-level packages in sys.modules after `statement` in a fresh interpreter."""
    code = f"{statement}; import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import training.cli", {"batch"}),
        ("import batch.cli", {"training"}),
        (
            "import jobkit.config, jobkit.errors, jobkit.exit_files, jobkit.exits, "
            "jobkit.files, jobkit.logs, jobkit.parquet, jobkit.stop",
            {"service", "torch", "dimtensor", "batch", "training"},
        ),
        ("import container.entrypoint", {"service", "torch", "batch", "training", "pyarrow"}),
    ],
    ids=["training", "batch", "jobkit", "entrypoint"],
)
def test_what_an_import_loads(statement: str, absent: set[str]) -> None:
    assert not loaded_by(statement) & absent


def test_the_exit_table_is_cheap_to_import() -> None:
    """The standard library only: a console script reads it before anything heavy."""
    assert loaded_by("import jobkit.exits") & {"pydantic", "yaml", "pyarrow", "numpy"} == set()
