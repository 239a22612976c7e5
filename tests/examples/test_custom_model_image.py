"""examples/custom-model's Containerfile: built as its README says (the package's wheel, then
the image FROM the project's CPU image, built here as tests/image builds it), then run with the
chart's security settings and the packed repository mounted read-only: the server answers with
units from the architecture the image installed, and runs as the base does. The derived image is
removed at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.custom_model import ARCHITECTURE, EXAMPLE, MODEL, ORIGIN, ideal
from tests.support.images import (
    BUILD_SECONDS,
    JOB_SECONDS,
    Container,
    build_derived,
    cpu_image,
    engine,
    readable_folder,
    remove_derived,
    start_server,
    stop,
)

# The first test may build the project's image (once per session), then the derived one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2 * BUILD_SECONDS + JOB_SECONDS)]

SITE = "/opt/venv/lib/python3.11/site-packages"  # the base image's venv (Dockerfile)


@pytest.fixture(scope="module")
def derived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The README's two steps in a copy of the example folder: ``pip wheel --no-deps -w dist
    .``, then the Containerfile with BASE the project's CPU image."""
    base = cpu_image()
    context = tmp_path_factory.mktemp("derived") / "custom-model"
    shutil.copytree(EXAMPLE, context)
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", "dist", "."],
        cwd=context, capture_output=True, text=True, timeout=BUILD_SECONDS, check=False,
    )  # fmt: skip
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    tag = build_derived(context / "Containerfile", context, {"BASE": base}, "dimtensor-example")
    yield tag
    remove_derived(tag)


@pytest.fixture(scope="module")
def server(derived: str, packed: Path) -> Iterator[Container]:
    repository = readable_folder(packed.parents[1])
    box = start_server(derived, {"MODEL_REPOSITORY": "/models"}, {repository: "/models:ro"})
    yield box
    stop(box)


def test_the_derived_image_serves_the_packed_model_with_units(server: Container) -> None:
    inputs = {
        "mass": {"value": 2, "unit": "kg"},
        "stiffness": {"value": 50, "unit": "N/m"},
        "amplitude": {"value": 40, "unit": "mm"},
    }
    body = {"model": MODEL, "inputs": inputs, "outputs": {"energy": "mJ", "period": "ms"}}
    answer = httpx.post(server.url("/predict"), json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    want = ideal(2.0, 50.0, 0.04)
    assert outputs["energy"]["value"] == pytest.approx(1000 * want["energy"], rel=0.03)
    assert outputs["period"]["value"] == pytest.approx(1000 * want["period"], rel=0.03)
    listing = httpx.get(server.url(f"/v1/models/{MODEL}"), timeout=30).json()
    (version,) = listing["versions"]
    assert (version["architecture"], version["architecture_origin"]) == (ARCHITECTURE, ORIGIN)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["id", "-u"], "10001"),
        (["sh", "-c", f"touch {SITE}/x 2>&1 || true"], "Read-only file system"),
        (["stat", "-c", "%u:%g %a", f"{SITE}/dimtensor_example_models/spring.py"], "0:0 644"),
        (["ls", f"{SITE}/dimtensor_example_models/__pycache__"], "spring.cpython-311.pyc"),
        (["sh", "-c", "ls /tmp/out /tmp/installer 2>&1 || true"], "No such file"),
    ],
    ids=["uid", "read-only-root", "package-owned-by-root", "byte-code", "no-build-leftovers"],
)
def test_the_derived_image_runs_as_the_base_runs(
    server: Container, command: list[str], expected: str
) -> None:
    result = engine("exec", server.name, *command)
    assert expected in result.stdout + result.stderr
