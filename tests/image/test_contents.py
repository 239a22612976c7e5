"""What the built image holds and how its entrypoint answers: byte code a read-only container
never recompiles, no pip, the labels of this checkout, the accelerator rule, the size bound."""

from __future__ import annotations

import json
import subprocess

import pytest
import tomllib

from tests.support.images import engine, run_job
from tests.support.paths import REPO

# Imports the three workloads' modules, then lists every loaded module of the venv whose
# byte code Python would not use as it is (missing, or stale for a timestamp pyc).
STALE_BYTE_CODE = """
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


def test_every_module_loads_from_byte_code_compiled_in_the_image(image: str) -> None:
    result = run_job(image, ["-c", STALE_BYTE_CODE], entrypoint="python3")
    assert result.returncode == 0, result.stderr
    loaded, *stale = result.stdout.strip().split("\n")
    assert int(loaded) > 500, "the check saw too few modules to mean anything"
    assert stale == [], "\n".join(stale[:20])


def test_the_image_holds_no_installer(image: str) -> None:
    result = run_job(image, ["-m", "pip", "--version"], entrypoint="python3")
    assert result.returncode != 0
    assert "No module named pip" in result.stderr


def test_the_labels_name_this_checkout(image: str) -> None:
    labels = json.loads(engine("image", "inspect", "--format", "{{json .Labels}}", image).stdout)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.version"] == pyproject["project"]["version"]
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["io.dimtensor.accelerator"] == "cpu"


@pytest.mark.parametrize(
    ("env", "args", "code", "said"),
    [
        ({"IMAGE_ACCELERATOR": "cuda"}, ["serve"], 2, "set ALLOW_CPU_FALLBACK=true"),
        ({"ALLOW_CPU_FALLBACK": "perhaps"}, ["serve"], 2, "ALLOW_CPU_FALLBACK"),
        ({}, ["predict"], 2, "unknown command 'predict': expected one of serve, batch, train"),
        (
            {"IMAGE_ACCELERATOR": "cuda", "ALLOW_CPU_FALLBACK": "true"},
            ["batch", "--help"],
            0,
            "device: cpu (fallback allowed by ALLOW_CPU_FALLBACK",
        ),
        ({}, ["train", "--help"], 0, "device: cpu (image built for the CPU)"),
    ],
    ids=["cuda-without-gpu", "bad-setting", "unknown-command", "fallback-allowed", "train"],
)
def test_the_entrypoint_checks_the_device_then_hands_over(
    image: str, env: dict[str, str], args: list[str], code: int, said: str
) -> None:
    result = run_job(image, args, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    assert said in result.stderr


def test_the_image_stays_under_its_size_bound(image: str) -> None:
    """docs/images.md: at or under 1,000 MB (a size, not a timing: the same inputs give it)."""
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= 1_000_000_000, f"{size / 1e6:.0f} MB"


def test_no_build_input_cache_or_secret_is_left_in_the_image(image: str) -> None:
    """The wheel folder and the CA bundle were mounted into the build, never copied; the
    sources, pip's cache and apt's lists stayed in the builder stage."""
    look = """
import os
print([p for p in ("/wheels", "/run/build-ca", "/src", "/root/.cache") if os.path.exists(p)])
wheels = [f for d, _, fs in os.walk("/opt") for f in fs if f.endswith(".whl")]
print(wheels[:5])
lists = "/var/lib/apt/lists"
print(len([f for f in os.listdir(lists) if f != "partial"]) if os.path.isdir(lists) else 0)
"""
    result = run_job(image, ["-c", look], entrypoint="python3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["[]", "[]", "0"], result.stdout


def test_home_is_the_users_and_group_0s_for_arbitrary_uids(image: str) -> None:
    """OpenShift runs an arbitrary UID in group 0: HOME (a volume in the chart, the image's
    folder elsewhere) lets group 0 write as its owner does."""
    result = engine("run", "--rm", "--entrypoint=stat", image, "-c", "%a %u %g", "/home/app")
    assert result.stdout.split() == ["775", "10001", "0"], result.stdout + result.stderr
