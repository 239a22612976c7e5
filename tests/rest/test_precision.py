"""Output precision follows the model: a float32 model answers float32 values, written as the
shortest text that reads back to the same float32 (native and OIP JSON), declared ``FP32``
(OIP outputs and model metadata) and sent as 4-byte floats (OIP binary); a float64 model
answers float64 alike. A value converted to another unit is converted in float64 and
rounded once to the model's dtype."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.models import ModelRepository, default_repository_path
from service.rest.app import create_app
from service.settings import Settings
from service.units import conversion, parse_unit
from tests.support.asgi import PortalClient, portal_client
from tests.support.models import Scale, scale_manifest, write_torchscript

HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalClient]:
    """``f32`` and ``f64`` (``y = x`` in J, computed in float32 / float64) and the shipped
    projectile, served in process."""
    root = tmp_path_factory.mktemp("precision")
    write_torchscript(root, scale_manifest("f32"), Scale(torch.float32))
    write_torchscript(root, scale_manifest("f64"), Scale(torch.float64))
    shutil.copytree(default_repository_path() / "projectile", root / "projectile")
    repository = ModelRepository.load(root, trusted=True)
    assert all(s.state == "ready" for s in repository.statuses())
    with portal_client(create_app(Settings(), repository=repository)) as c:
        yield c


def texts(response: Any) -> Any:
    """The body with every number that has a fraction or exponent kept as its text."""
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=str)


def native(client: PortalClient, model: str, value: Any, unit: str) -> Any:
    """The value texts of output ``y`` from ``POST /predict`` (x sent in J)."""
    body = {"model": model, "inputs": {"x": {"value": value, "unit": "J"}}, "outputs": {"y": unit}}
    out = texts(client.post("/predict", json=body))["outputs"]["y"]
    assert out["unit"] == unit
    return out["value"]


def oip(client: PortalClient, model: str, values: list[float], unit: str) -> tuple[Any, str]:
    """The data texts and datatype of output ``y`` from a JSON OIP infer."""
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [len(values)],
                "datatype": "FP64",
                "parameters": {"unit": "J"},
                "data": values,
            }
        ],
        "outputs": [{"name": "y", "parameters": {"unit": unit}}],
    }
    (out,) = texts(client.post(f"/v2/models/{model}/infer", json=body))["outputs"]
    return out["data"], out["datatype"]


# model, x in J, unit asked for y, the text every JSON door writes, the declared datatype
RENDERED = [
    ("f32", 35.324, "J", "35.324", "FP32"),  # float64 digits would be 35.32400131225586
    ("f32", 0.1, "J", "0.1", "FP32"),
    ("f32", 123456.789, "J", "123456.79", "FP32"),  # all a float32 holds
    ("f32", 1e-7, "J", "1e-7", "FP32"),
    ("f32", 3.4e38, "J", "3.4e+38", "FP32"),
    ("f32", 35.324, "kJ", "0.035324", "FP32"),
    ("f32", 0.1, "kJ", "0.000100000005", "FP32"),  # float32(0.1) / 1000, rounded once
    ("f32", 123456.789, "kJ", "123.45679", "FP32"),
    ("f64", 35.324, "J", "35.324", "FP64"),
    ("f64", 123456.789, "J", "123456.789", "FP64"),
    ("f64", 0.1, "kJ", "0.0001", "FP64"),
    ("f64", 0.1 + 0.2, "J", "0.30000000000000004", "FP64"),
    ("f32", 0.1 + 0.2, "J", "0.3", "FP32"),
]


@pytest.mark.parametrize(("model", "x", "unit", "text", "datatype"), RENDERED)
def test_each_json_door_writes_the_models_precision(
    client: PortalClient, model: str, x: float, unit: str, text: str, datatype: str
) -> None:
    assert native(client, model, x, unit) == text  # unbatched: one value
    assert native(client, model, [x, x], unit) == [text, text]  # a batch
    assert oip(client, model, [x], unit) == ([text], datatype)
    assert oip(client, model, [x, x, x], unit) == ([text] * 3, datatype)


@pytest.mark.parametrize(
    ("model", "datatype", "itemsize"), [("f32", "FP32", 4), ("f64", "FP64", 8)]
)
def test_binary_outputs_and_metadata_declare_the_models_datatype(
    client: PortalClient, model: str, datatype: str, itemsize: int
) -> None:
    meta = client.get(f"/v2/models/{model}").json()
    assert [t["datatype"] for t in meta["inputs"] + meta["outputs"]] == [datatype, datatype]
    values = [35.324, 0.1, -7.5]
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [3],
                "datatype": "FP64",
                "parameters": {"unit": "J"},
                "data": values,
            }
        ],
        "outputs": [{"name": "y", "parameters": {"unit": "kJ", "binary_data": True}}],
    }
    r = client.post(f"/v2/models/{model}/infer", json=body)
    assert r.status_code == 200, r.text
    head = int(r.headers[HEADER])
    (out,) = json.loads(r.content[:head])["outputs"]
    assert out["datatype"] == datatype
    assert out["parameters"]["binary_data_size"] == 3 * itemsize
    dtype = np.dtype(f"<f{itemsize}")
    factor, _ = conversion(parse_unit("J"), parse_unit("kJ"))
    want = (np.array(values).astype(dtype).astype(np.float64) * factor).astype(dtype)
    assert r.content[head:] == want.tobytes()


def test_the_shipped_projectile_answers_float32_text(client: PortalClient) -> None:
    """The issue's example: 72 km/h at 30 deg goes 35.324 m, not 35.32400131225586."""
    body = {
        "model": "projectile",
        "inputs": {
            "speed": {"value": 72, "unit": "km/h"},
            "angle": {"value": [30, 60], "unit": "deg"},
            "g": {"value": 9.80665, "unit": "m/s^2"},
        },
    }
    out = texts(client.post("/predict", json=body))["outputs"]
    assert out["range"]["value"] == ["35.324", "35.324"]
    assert all(len(t) <= 9 for o in out.values() for t in o["value"])  # float32 digits


def test_a_conversion_beyond_float32_is_refused_by_name(client: PortalClient) -> None:
    body = {"model": "f32", "inputs": {"x": {"value": [3e38], "unit": "J"}}, "outputs": {"y": "mJ"}}
    r = client.post("/predict", json=body)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "output 'y': a value in 'mJ' is beyond the range of float32, the dtype the model "
        "computes in; ask for a larger unit"
    )
    assert native(client, "f64", [3e38], "mJ") == ["3.0000000000000002e+41"]  # float64 has room


def significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.strip("0")) or 1


def shortest_digits(value: np.floating[Any]) -> int:
    """numpy's shortest round-trip representation (Dragon4, unique=True) of `value`."""
    return significant_digits(np.format_float_scientific(value, unique=True, trim="-"))


floats32 = st.floats(width=32, min_value=-(2.0**100), max_value=2.0**100, allow_nan=False)
units = st.sampled_from(["J", "kJ", "mJ", "MJ", "eV", "cal", "kW*h"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xs=st.lists(floats32, min_size=1, max_size=3), unit=units)
def test_every_float32_text_reads_back_to_the_models_float32(
    client: PortalClient, xs: list[float], unit: str
) -> None:
    """Any float32 answer, on either JSON door, batched or not: its text is as short as the
    shortest representation of that float32 and reads back to it, and the value is the
    exact conversion rounded once to float32."""
    factor, shift = conversion(parse_unit("J"), parse_unit(unit))
    with np.errstate(over="ignore"):
        want = [np.float32(np.float64(np.float32(x)) * factor + shift) for x in xs]
    if not all(np.isfinite(want)):
        return  # eV of 1e30 J: refused by name (above)
    answers = [native(client, "f32", xs, unit), oip(client, "f32", xs, unit)[0]]
    if len(xs) == 1:
        answers.append([native(client, "f32", xs[0], unit)])
    for rendered in answers:
        assert [np.float32(float(t)) for t in rendered] == want
        assert [significant_digits(t) for t in rendered] == [shortest_digits(w) for w in want]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    xs=st.lists(st.floats(min_value=-1e300, max_value=1e300), min_size=1, max_size=3),
    unit=units,
)
def test_every_float64_text_reads_back_to_the_models_float64(
    client: PortalClient, xs: list[float], unit: str
) -> None:
    factor, shift = conversion(parse_unit("J"), parse_unit(unit))
    want = [x * factor + shift for x in xs]
    if not all(np.isfinite(want)):
        return
    for rendered in (native(client, "f64", xs, unit), oip(client, "f64", xs, unit)[0]):
        assert [float(t) for t in rendered] == want
