"""Open Inference Protocol v2 REST, in process: shapes, datatypes, units, errors."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

G0 = 9.80665


def tensor(
    name: str, data: Any, unit: str | None, shape: list[int] | None = None, datatype: str = "FP64"
) -> dict[str, Any]:
    flat = data if isinstance(data, list) else [data]
    t: dict[str, Any] = {
        "name": name,
        "shape": shape if shape is not None else [len(flat)],
        "datatype": datatype,
        "data": data,
    }
    if unit is not None:
        t["parameters"] = {"unit": unit}
    return t


def infer_body(
    speed=(72, "km/h"), angle=(45, "deg"), g=(G0, "m/s^2"), **extra: Any
) -> dict[str, Any]:
    return {"inputs": [tensor("speed", *speed), tensor("angle", *angle), tensor("g", *g)], **extra}


async def test_server_metadata_lists_the_units_extension(aclient: httpx.AsyncClient):
    meta = (await aclient.get("/v2")).json()
    assert meta["name"] == "dimtensor-serve"
    assert "units" in meta["extensions"]
    assert meta["version"]


async def test_health(aclient: httpx.AsyncClient):
    assert (await aclient.get("/v2/health/live")).json() == {"live": True}
    r = await aclient.get("/v2/health/ready")
    assert (r.status_code, r.json()) == (200, {"ready": True})


async def test_model_metadata_declares_units(aclient: httpx.AsyncClient):
    for path in ("/v2/models/projectile", "/v2/models/projectile/versions/1"):
        meta = (await aclient.get(path)).json()
        assert meta["name"] == "projectile"
        assert meta["versions"] == ["1"]
        assert meta["platform"]
        speed = next(t for t in meta["inputs"] if t["name"] == "speed")
        assert speed == {
            "name": "speed",
            "datatype": "FP32",  # what the model computes in (any numeric datatype is read)
            "shape": [-1],
            "parameters": {
                "unit": "m/s",
                "dimension": "length*time^-1",
                # the validity domain, as JSON text (parameter values are scalars)
                "domain": '{"lower":{"value":0.0,"unit":"m/s","open":false}}',
            },
        }
        assert {t["name"] for t in meta["outputs"]} == {"range", "apex_height", "flight_time"}
        assert {t["datatype"] for t in meta["outputs"]} == {"FP32"}


async def test_model_ready(aclient: httpx.AsyncClient):
    r = await aclient.get("/v2/models/projectile/ready")
    assert (r.status_code, r.json()) == (200, {"name": "projectile", "ready": True})
    r = await aclient.get("/v2/models/projectile/versions/1/ready")
    assert r.status_code == 200
    assert (await aclient.get("/v2/models/nope/ready")).status_code == 404


async def test_infer_converts_units_and_echoes_id(aclient: httpx.AsyncClient):
    body = infer_body(id="req-7", outputs=[{"name": "range", "parameters": {"unit": "km"}}])
    r = await aclient.post("/v2/models/projectile/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "projectile"
    assert out["model_version"] == "1"
    assert out["id"] == "req-7"
    assert [o["name"] for o in out["outputs"]] == ["range"]  # only what was asked for
    rng = out["outputs"][0]
    assert rng["shape"] == [1]
    assert rng["datatype"] == "FP32"
    assert rng["parameters"] == {"unit": "km", "dimension": "length"}
    assert rng["data"] == [pytest.approx(400 / G0 / 1000, rel=1e-6)]


async def test_infer_batch_in_nested_and_flat_forms(aclient: httpx.AsyncClient):
    angles = [30.0, 45.0, 60.0]
    flat = {
        "inputs": [
            tensor("speed", [20.0] * 3, "m/s"),
            tensor("angle", angles, "deg"),
            tensor("g", [G0] * 3, "m/s^2"),
        ]
    }
    nested = {
        "inputs": [
            tensor("speed", [[20.0]] * 3, "m/s", [3, 1]),
            tensor("angle", [[a] for a in angles], "deg", [3, 1], "FP32"),
            tensor("g", [[G0]] * 3, "m/s^2", [3, 1]),
        ]
    }
    want = [400 * math.sin(2 * math.radians(a)) / G0 for a in angles]
    for body in (flat, nested):
        r = await aclient.post("/v2/models/projectile/versions/1/infer", json=body)
        assert r.status_code == 200, r.text
        by_name = {o["name"]: o for o in r.json()["outputs"]}
        assert by_name["range"]["shape"] == [3]
        assert by_name["range"]["data"] == pytest.approx(want, rel=1e-6)
        assert by_name["flight_time"]["parameters"]["unit"] == "s"


async def test_integer_datatypes(aclient: httpx.AsyncClient):
    """INT32/INT64 inputs are read as the same numbers: the answer equals the FP64 one."""
    answers = []
    for speed_type, angle_type in (("INT32", "INT64"), ("FP64", "FP64")):
        body = infer_body(
            speed=([20], "m/s", [1], speed_type), angle=([45], "deg", [1], angle_type)
        )
        r = await aclient.post("/v2/models/projectile/infer", json=body)
        assert r.status_code == 200, r.text
        answers.append({o["name"]: o["data"] for o in r.json()["outputs"]})
    integers, floats = answers
    assert integers == floats
    sin45 = math.sin(math.radians(45))
    assert integers["range"] == pytest.approx([400 / G0], rel=1e-6)
    assert integers["apex_height"] == pytest.approx([400 * sin45**2 / (2 * G0)], rel=1e-6)
    assert integers["flight_time"] == pytest.approx([2 * 20 * sin45 / G0], rel=1e-6)


def _error(r: httpx.Response, status: int, *parts: str) -> None:
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"}
    for part in parts:
        assert part in r.json()["error"], (part, r.json()["error"])


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        (infer_body(speed=(3, "kg")), ["speed", "length*time^-1", "kg"]),
        (infer_body(speed=(3, "kmh")), ["speed", "kmh"]),
        (infer_body(speed=(3, None)), ["speed", "parameters.unit", "m/s"]),
        (infer_body(speed=([1, 2, 3], "m/s", [2])), ["speed", "[2]", "3"]),
        (infer_body(speed=([1], "m/s", [1], "BYTES")), ["BYTES"]),
        (infer_body(speed=([1.5], "m/s", [1], "INT32")), ["INT32"]),
        (infer_body(speed=([2**40], "m/s", [1], "INT32")), ["INT32"]),
        (infer_body(speed=(["a"], "m/s", [1])), ["numbers"]),
        (infer_body(speed=([True], "m/s", [1])), ["numbers"]),
        (infer_body(outputs=[{"name": "nope"}]), ["nope"]),
        (infer_body(outputs=[{"name": "range", "parameters": {"unit": "s"}}]), ["range"]),
        (infer_body(outputs=[{"name": "range", "parameters": {"unit": 3}}]), ["unit"]),
        ({"inputs": [tensor("speed", 1, "m/s")]}, ["angle"]),
        ({"inputs": "nope"}, ["inputs"]),
        ({}, ["inputs"]),
        (infer_body(speed=([1, 2], "m/s", [-1, -2])), ["negative"]),
        ({"inputs": [tensor("speed", 1, "m/s"), tensor("speed", 1, "m/s")]}, ["twice"]),
        (infer_body(speed=([1e400], "m/s", [1])), ["speed"]),
        (infer_body(speed=([10**400], "m/s", [1])), ["too large"]),
    ],
)
async def test_bad_requests_are_400_with_an_error_message(aclient: httpx.AsyncClient, body, parts):
    raw = json.dumps(body)  # Python's json: Infinity allowed, as lenient clients send it
    r = await aclient.post(
        "/v2/models/projectile/infer", content=raw, headers={"content-type": "application/json"}
    )
    _error(r, 400, *parts)


async def test_malformed_json_is_400(aclient: httpx.AsyncClient):
    r = await aclient.post(
        "/v2/models/projectile/infer",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    _error(r, 400)


async def test_unknown_model_and_version_are_404(aclient: httpx.AsyncClient):
    _error(await aclient.post("/v2/models/nope/infer", json=infer_body()), 404, "nope")
    _error(
        await aclient.post("/v2/models/projectile/versions/9/infer", json=infer_body()), 404, "9"
    )
    _error(await aclient.get("/v2/models/nope"), 404, "nope")
