"""Every module ships: setuptools' package discovery (``[tool.setuptools.packages.find]``)
skips a folder without ``__init__.py``, so its modules would be missing from a wheel and an
image while the editable install used by the tests still finds them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["service", "training"])
def test_every_folder_of_modules_is_a_package(package: str) -> None:
    folders = {p.parent for p in (ROOT / package).rglob("*.py")}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert missing == []
