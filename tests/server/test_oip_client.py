"""A stock Open Inference Protocol client (tritonclient.http) against the real server."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient  # a dev dependency: missing means failed, not skipped

from tests.support.servers import ServerProcess, run_server

pytestmark = pytest.mark.slow

G0 = 9.80665


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with run_server(tmp_path_factory.mktemp("oip"), workers=2) as s:
        yield s


def client(server: ServerProcess):
    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))


def inputs(binary: bool, units: dict[str, str] | None = None):
    speed = np.array([72.0, 36.0], dtype=np.float32)
    angle = np.array([45.0, 30.0], dtype=np.float64)
    g = np.array([G0, G0], dtype=np.float64)
    out = []
    for name, arr, dtype in (("speed", speed, "FP32"), ("angle", angle, "FP64"), ("g", g, "FP64")):
        inp = httpclient.InferInput(name, list(arr.shape), dtype)
        inp.set_data_from_numpy(arr, binary_data=binary)
        if units:
            # tritonclient has no public setter for tensor parameters; the wire format does
            inp._parameters["unit"] = units[name]
        out.append(inp)
    return out


UNITS = {"speed": "km/h", "angle": "deg", "g": "m/s^2"}
WANT_RANGE = [
    (72 / 3.6) ** 2 * math.sin(math.radians(90)) / G0,
    (36 / 3.6) ** 2 * math.sin(math.radians(60)) / G0,
]


def test_health_and_metadata(server: ServerProcess):
    c = client(server)
    assert c.is_server_live()
    assert c.is_server_ready()
    assert c.is_model_ready("projectile")
    assert "units" in c.get_server_metadata()["extensions"]
    meta = c.get_model_metadata("projectile")
    assert {t["datatype"] for t in meta["inputs"] + meta["outputs"]} == {"FP32"}
    assert {t["name"]: t["parameters"]["unit"] for t in meta["inputs"]} == {
        "speed": "m/s",
        "angle": "rad",
        "g": "m/s^2",
    }


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_with_units(server: ServerProcess, binary: bool):
    outputs = [httpclient.InferRequestedOutput("range", binary_data=binary)]
    outputs[0]._parameters["unit"] = "km"
    result = client(server).infer(
        "projectile", inputs(binary, UNITS), outputs=outputs, request_id="abc"
    )
    assert result.get_response()["id"] == "abc"
    rng = result.as_numpy("range")
    assert rng.tolist() == pytest.approx([w / 1000 for w in WANT_RANGE], rel=1e-6)
    assert result.get_output("range")["parameters"]["unit"] == "km"
    # the model computes in float32: declared FP32, read as float32 in JSON and binary alike
    assert result.get_output("range")["datatype"] == "FP32"
    assert rng.dtype == np.float32


def test_default_client_call_binary_everything(server: ServerProcess):
    """The most stock call there is: binary inputs, no outputs named (binary outputs)."""
    result = client(server).infer("projectile", inputs(True, UNITS))
    assert result.as_numpy("range").tolist() == pytest.approx(WANT_RANGE, rel=1e-6)
    assert result.as_numpy("flight_time").shape == (2,)


def test_missing_unit_is_refused_with_a_clear_error(server: ServerProcess):
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match=r"parameters\.unit"):
        client(server).infer("projectile", inputs(False))


def test_missing_unit_read_as_models_unit_when_configured(tmp_path: Path):
    with run_server(tmp_path, workers=1, OIP_MISSING_UNIT="model") as s:
        c = httpclient.InferenceServerClient(url=s.url.removeprefix("http://"))
        arrs = [np.array([20.0]), np.array([math.pi / 4]), np.array([G0])]
        ins = []
        for name, arr in zip(("speed", "angle", "g"), arrs, strict=True):
            inp = httpclient.InferInput(name, [1], "FP64")
            inp.set_data_from_numpy(arr)
            ins.append(inp)
        result = c.infer("projectile", ins)
        assert result.as_numpy("range").tolist() == pytest.approx([400 / G0], rel=1e-6)


def test_wrong_dimension_is_a_400_naming_the_input(server: ServerProcess):
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="speed") as info:
        client(server).infer("projectile", inputs(False, {**UNITS, "speed": "kg"}))
    assert info.value.status() == "400"
