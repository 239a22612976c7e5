"""Where the tests find the repository they test and the tools it installs."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]

# The offline validators, helm and wrk: `bash scripts/install-tools.sh` puts them here.
TOOLS = REPO / ".tools"


def wheel_packages() -> list[str]:
    """The top-level packages the distribution installs (pyproject's ``packages.find``)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(pattern.rstrip("*") for pattern in include)
