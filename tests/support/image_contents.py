"""What a built image holds, read from inside a container of it: the checks both images' tests
make (tests/image for the CPU image, tests/image_gpu for the GPU one)."""

from __future__ import annotations

import json
import subprocess

import tomllib

from tests.support.images import engine, run_job
from tests.support.paths import REPO

__all__ = [
    "assert_byte_code_compiled",
    "assert_labels_name_this_checkout",
    "assert_no_installer_or_build_input",
    "assert_size_at_most",
]

# Imports the three workloads' modules, then lists every loaded module of the venv whose
# byte code Python would not use as it is (missing, or stale for a timestamp pyc).
_STALE_BYTE_CODE = """
import importlib.util, os, sys
import service.rest.app, batch.cli, training.cli, container.entrypoint
stale, checked = [], 0
for name, module in list(sys.modules.items()):
    source = getattr(module, "__file__", None) or ""
    if not source.startswith("/opt/venv/") or not source.endswith(".py"):
        continue
    checked += 1
    cached = importlib.util.cache_from_source(source)
    if not os.path.exists(cached):
        stale.append(f"{name}: no {cached}")
        continue
    with open(cached, "rb") as f:
        flags = int.from_bytes(f.read(8)[4:8], "little")
    if flags != 0b01:  # hash-based, unchecked: valid whatever the files' times
        stale.append(f"{name}: flags {flags}")
print(checked)
print("\\n".join(stale))
"""

# The wheel folder and the CA bundle are mounted into a build, never copied; the sources, pip's
# cache and apt's lists stay in the builder stage.
_LEFTOVERS = """
import os
found = [p for p in ("/wheels", "/run/build-ca", "/src", "/root/.cache") if os.path.exists(p)]
found += [f for d, _, fs in os.walk("/opt") for f in fs if f.endswith(".whl")][:5]
lists = "/var/lib/apt/lists"
found += [f for f in (os.listdir(lists) if os.path.isdir(lists) else []) if f != "partial"][:5]
print("\\n".join(found))
"""


def _python(image: str, source: str) -> str:
    result = run_job(image, ["-c", source], entrypoint="python3")
    assert result.returncode == 0, result.stderr
    return result.stdout


def stale_byte_code(image: str) -> tuple[int, list[str]]:
    """(modules checked, those without unchecked-hash byte code) after importing the three
    workloads in a read-only container of `image`."""
    loaded, *stale = _python(image, _STALE_BYTE_CODE).strip().split("\n")
    return int(loaded), [line for line in stale if line]


def build_leftovers(image: str) -> list[str]:
    """Build inputs, caches or package lists found in `image` (none is expected)."""
    return [line for line in _python(image, _LEFTOVERS).split("\n") if line]


def pip_refusal(image: str) -> subprocess.CompletedProcess[str]:
    """``python3 -m pip --version`` in `image` (the images hold no installer)."""
    return run_job(image, ["-m", "pip", "--version"], entrypoint="python3")


def labels(image: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(
        engine("image", "inspect", "--format", "{{json .Labels}}", image).stdout
    )
    return found


def head_revision() -> str:
    """The checkout's commit, which the images' revision label carries."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def assert_byte_code_compiled(image: str) -> None:
    """Every module the three workloads import loads from unchecked-hash byte code."""
    checked, stale = stale_byte_code(image)
    assert checked > 500, "the check saw too few modules to mean anything"
    assert stale == [], "\n".join(stale[:20])


def assert_no_installer_or_build_input(image: str) -> None:
    result = pip_refusal(image)
    assert result.returncode != 0
    assert "No module named pip" in result.stderr
    assert build_leftovers(image) == []


def assert_labels_name_this_checkout(image: str, accelerator: str) -> None:
    found = labels(image)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert found["org.opencontainers.image.version"] == version
    assert found["org.opencontainers.image.revision"] == head_revision()
    assert found["org.opencontainers.image.source"].startswith("https://")
    assert found["io.dimtensor.accelerator"] == accelerator


def assert_size_at_most(image: str, megabytes: int) -> None:
    """A size, not a timing: the same inputs give it."""
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= megabytes * 1_000_000, f"{size / 1e6:.0f} MB, bound {megabytes} MB"
