"""examples/custom-model end to end, as a user runs it: the package pip-installed into a fresh
venv, its script trains and packs a model there, and real servers of that venv answer in any
units through both protocols, and a batch job scores the same model. The same repository
served by the project's own environment, where the package is not installed, shows what the
entry point does: without it that version fails to load, naming the architecture.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml

from harness.server import Server
from service.models.manifest import MANIFEST_FILENAME
from tests.support.custom_model import (
    ARCHITECTURE,
    DISTRIBUTION,
    EXAMPLE,
    MODEL,
    ORIGIN,
    cross_wire,
    ideal,
    serve,
)
from tests.support.models import projectile_manifest, write_model
from tests.support.paths import REPO
from tests.support.venvs import Venv

pytestmark = pytest.mark.slow

CROSSED = "spring_crossed"  # the packed weights with a mass where the amplitude goes
TRAINED = 0.03  # the relative error the trained net stays within, inside its domain
FLOAT32 = 1e-6  # the same float32 answer reached through other units or doors

LAB = {
    "mass": {"value": 500, "unit": "g"},
    "stiffness": {"value": 2, "unit": "N/cm"},
    "amplitude": {"value": [3, 5], "unit": "cm"},
}
SI = {
    "mass": {"value": 0.5, "unit": "kg"},
    "stiffness": {"value": 200, "unit": "N/m"},
    "amplitude": {"value": [0.03, 0.05], "unit": "m"},
}


def predict(server: Server, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/predict", json=body, timeout=30)


def outputs(server: Server, inputs: dict[str, Any], units: dict[str, str] | None = None) -> Any:
    body: dict[str, Any] = {"model": MODEL, "inputs": inputs}
    if units is not None:
        body["outputs"] = units
    answer = predict(server, body)
    assert answer.status_code == 200, answer.text
    return answer.json()["outputs"]


def version_status(server: Server, model: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/v1/models/{model}", timeout=30)
    assert answer.status_code == 200, answer.text
    (version,) = answer.json()["versions"]
    status: dict[str, Any] = version
    return status


@pytest.fixture(scope="module")
def repository(packed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packed model; a copy of it wired to inputs of the wrong kind; and an analytic
    model, so that a server without the package still has one model ready."""
    root = tmp_path_factory.mktemp("served") / "models"
    shutil.copytree(packed.parents[1], root)
    cross_wire(root / MODEL / packed.name, CROSSED, amplitude="kg")
    write_model(root, projectile_manifest())
    return root


@pytest.fixture(scope="module")
def server(
    example_venv: Venv, repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``python -m service`` of the venv the example is installed in."""
    argv = example_venv.argv("-m", "service")
    with serve(tmp_path_factory.mktemp("with-package"), repository, argv=argv) as running:
        yield running


def test_the_script_packs_the_next_version_naming_the_installed_architecture(packed: Path):
    assert (packed.parent.name, packed.name) == (MODEL, "1")
    manifest = yaml.safe_load((packed / MANIFEST_FILENAME).read_text(encoding="utf-8"))
    assert manifest["architecture"]["name"] == ARCHITECTURE
    assert manifest["weights"]["format"] == "safetensors"
    assert not list(packed.glob("*.py")), "a repository version never carries code"


def test_predict_answers_in_the_units_asked_for_from_inputs_in_any_units(server: Server):
    lab = outputs(server, LAB, {"energy": "mJ", "period": "ms"})
    si = outputs(server, SI)
    assert (lab["energy"]["unit"], lab["period"]["unit"]) == ("mJ", "ms")
    assert (si["energy"]["unit"], si["period"]["unit"]) == ("J", "s")
    for row, amplitude in enumerate((0.03, 0.05)):
        want = ideal(0.5, 200.0, amplitude)
        assert si["energy"]["value"][row] == pytest.approx(want["energy"], rel=TRAINED)
        assert si["period"]["value"][row] == pytest.approx(want["period"], rel=TRAINED)
        assert lab["energy"]["value"][row] == pytest.approx(
            1000 * si["energy"]["value"][row], rel=FLOAT32
        )
        assert lab["period"]["value"][row] == pytest.approx(
            1000 * si["period"]["value"][row], rel=FLOAT32
        )


@pytest.mark.parametrize(
    ("name", "unit", "expected", "received"),
    [
        ("mass", "m", "mass", "length"),
        ("stiffness", "N", "mass*time^-2", "length*mass*time^-2"),
        ("amplitude", "s", "length", "time"),
    ],
)
def test_an_input_of_the_wrong_dimension_is_a_422_naming_it(
    server: Server, name: str, unit: str, expected: str, received: str
):
    inputs = {**LAB, name: {"value": 1, "unit": unit}}
    answer = predict(server, {"model": MODEL, "inputs": inputs})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/dimension-mismatch"
    assert (problem["input"], problem["expected_dimension"]) == (name, expected)
    assert problem["received_dimension"] == received


def test_oip_infer_reads_and_writes_units_as_tensor_parameters(server: Server):
    def tensor(name: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "name": name,
            "shape": [1],
            "datatype": "FP64",
            "data": [value],
            "parameters": {"unit": unit},
        }

    body = {
        "inputs": [
            tensor("mass", 500, "g"),
            tensor("stiffness", 2, "N/cm"),
            tensor("amplitude", 30, "mm"),
        ],
        "outputs": [{"name": "energy", "parameters": {"unit": "mJ"}}],
    }
    answer = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    (energy,) = answer.json()["outputs"]
    assert (energy["name"], energy["parameters"]["unit"]) == ("energy", "mJ")
    native = outputs(server, LAB, {"energy": "mJ"})["energy"]["value"][0]
    assert energy["data"][0] == pytest.approx(native, rel=FLOAT32)


def test_the_model_listing_names_the_package_the_architecture_comes_from(server: Server):
    version = version_status(server, MODEL)
    assert (version["state"], version["architecture"]) == ("ready", ARCHITECTURE)
    assert version["architecture_origin"] == ORIGIN


def test_the_architecture_refuses_a_manifest_that_feeds_it_the_wrong_quantity(server: Server):
    version = version_status(server, CROSSED)
    assert version["state"] == "failed"
    assert "input column 2 (amplitude) must have dimension" in version["reason"]
    assert predict(server, {"model": CROSSED, "inputs": LAB}).status_code == 503


def test_a_batch_job_over_the_packed_model_writes_the_served_values(
    example_venv: Venv, repository: Path, server: Server, tmp_path: Path
):
    output = tmp_path / "sweep"
    env = {"MODEL_REPOSITORY": str(repository), "BATCH_OUTPUT": str(output)}
    result = example_venv.run("-m", "batch", "run", EXAMPLE / "sweep.yaml", cwd=REPO, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    table = pq.read_table(output / "merged.parquet")
    units = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in table.schema}
    assert (units["energy"], units["period"]) == ("mJ", "ms")
    rows = table.to_pydict()
    assert len(rows["row"]) == 18
    inputs = {
        name: {"value": rows[name], "unit": units[name]}
        for name in ("mass", "stiffness", "amplitude")
    }
    served = outputs(server, inputs, {"energy": "mJ", "period": "ms"})
    for i in range(len(rows["row"])):
        want = ideal(rows["mass"][i] / 1000, rows["stiffness"][i], rows["amplitude"][i] / 100)
        assert rows["energy"][i] == pytest.approx(1000 * want["energy"], rel=TRAINED)
        assert rows["period"][i] == pytest.approx(1000 * want["period"], rel=TRAINED)
        assert rows["energy"][i] == pytest.approx(served["energy"]["value"][i], rel=FLOAT32)
        assert rows["period"][i] == pytest.approx(served["period"]["value"][i], rel=FLOAT32)


def test_without_the_package_the_version_fails_naming_the_architecture(
    repository: Path, tmp_path: Path
):
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        pytest.fail(
            f"{DISTRIBUTION} is installed in {sys.prefix}: this test serves from that "
            f"environment without it (pip uninstall {DISTRIBUTION})"
        )
    with serve(tmp_path, repository) as server:
        version = version_status(server, MODEL)
        assert version["state"] == "failed"
        assert f"unknown architecture {ARCHITECTURE!r}" in version["reason"]
        assert "dimtensor_serve.architectures" in version["reason"]
        assert version_status(server, "proj")["state"] == "ready"
        assert predict(server, {"model": MODEL, "inputs": LAB}).status_code == 503
