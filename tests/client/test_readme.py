"""The README's Python client examples, run as written against the real server: each
``print(...)  # expected`` line must print what its comment says. And no Python example in
the docs builds a prediction request by hand any more (curl examples stay)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.client_server import KEY
from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def client_blocks() -> list[str]:
    return [b for b in python_blocks(ROOT / "README.md") if "service.client" in b]


def expected_lines(block: str) -> list[str]:
    return [
        line.split("  # ", 1)[1].strip()
        for line in block.splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]


def test_the_readme_shows_a_dimarray_in_and_out_the_async_form_and_oip() -> None:
    blocks = client_blocks()
    assert any("DimArray(" in b and ".to(units.km)" in b for b in blocks)
    assert any("async with AsyncClient()" in b and "await asyncio.gather" in b for b in blocks)
    assert any('protocol="oip"' in b for b in blocks)
    assert all(expected_lines(b) for b in blocks)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_python_example_builds_a_request_by_hand(path: Path) -> None:
    by_hand = re.compile(r"_parameters|InferInput|httpx\.|requests\.|urllib|json\.dumps|\"inputs\"")
    for block in python_blocks(path):
        assert not by_hand.search(block), block


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(client_blocks())))
def test_each_example_prints_what_it_says(server: ServerProcess, index: int) -> None:
    block = client_blocks()[index]
    env = {**os.environ, "DIMTENSOR_SERVE_URL": server.url, "DIMTENSOR_SERVE_API_KEY": KEY}
    done = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=120, env=env,
        check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == expected_lines(block)
