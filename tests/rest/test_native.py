"""POST /predict and /v1/models, in process over httpx's ASGI transport."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

G0 = 9.80665
V = 20.0  # m/s == 72 km/h
RANGE_45 = V**2 / G0  # sin(90°) = 1
APEX_45 = V**2 * 0.5 / (2 * G0)
FLIGHT_45 = 2 * V * math.sin(math.pi / 4) / G0


def body(
    speed: Any = 72,
    speed_unit: str = "km/h",
    angle: Any = 45,
    angle_unit: str = "deg",
    g: Any = G0,
    g_unit: str = "m/s^2",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "model": "projectile",
        "inputs": {
            "speed": {"value": speed, "unit": speed_unit},
            "angle": {"value": angle, "unit": angle_unit},
            "g": {"value": g, "unit": g_unit},
        },
        **extra,
    }


async def test_predict_converts_inputs_and_answers_in_model_units(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "projectile"
    assert out["version"] == "1"
    assert out["outputs"]["range"]["unit"] == "m"
    assert out["outputs"]["range"]["dimension"] == "length"
    assert out["outputs"]["range"]["value"] == pytest.approx(RANGE_45, rel=1e-6)
    assert out["outputs"]["apex_height"]["value"] == pytest.approx(APEX_45, rel=1e-6)
    assert out["outputs"]["flight_time"]["value"] == pytest.approx(FLIGHT_45, rel=1e-6)


@pytest.mark.parametrize(
    ("speed", "speed_unit", "angle", "angle_unit", "g", "g_unit"),
    [
        (20, "m/s", math.pi / 4, "rad", G0, "m/s^2"),
        (72, "km/h", 45, "deg", G0, "m*s^-2"),
        (20_000, "mm/s", 45, "°", G0 * 100, "cm/s²"),
        (72_000, "m/h", 0.125, "rev", G0, "N/kg"),
        (20 / 0.3048, "ft/s", 45, "deg", G0 / 0.3048, "ft/s/s"),
    ],
)
async def test_same_quantity_in_compatible_units_gives_same_prediction(
    aclient: httpx.AsyncClient, speed, speed_unit, angle, angle_unit, g, g_unit
):
    r = await aclient.post("/predict", json=body(speed, speed_unit, angle, angle_unit, g, g_unit))
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["range"]["value"] == pytest.approx(RANGE_45, rel=1e-6)


async def test_outputs_come_back_in_requested_units(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body(outputs={"range": "km", "flight_time": "ms"}))
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert outs["range"] == {
        "value": pytest.approx(RANGE_45 / 1000, rel=1e-6),
        "unit": "km",
        "dimension": "length",
    }
    assert outs["flight_time"]["value"] == pytest.approx(FLIGHT_45 * 1000, rel=1e-6)
    assert outs["flight_time"]["unit"] == "ms"
    assert outs["apex_height"]["unit"] == "m"  # not asked for: the model's unit


async def test_scalars_broadcast_against_a_batch(aclient: httpx.AsyncClient):
    angles = [15, 30, 45, 60, 75]
    r = await aclient.post("/predict", json=body(angle=angles))
    assert r.status_code == 200, r.text
    got = r.json()["outputs"]["range"]["value"]
    want = [V**2 * math.sin(2 * math.radians(a)) / G0 for a in angles]
    assert got == pytest.approx(want, rel=1e-6)


async def test_model_may_be_omitted_when_a_default_is_configured(aclient: httpx.AsyncClient):
    payload = body()
    del payload["model"]
    r = await aclient.post("/predict", json=payload)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "projectile"


@pytest.mark.parametrize("version", ["1", 1])
async def test_explicit_version(aclient: httpx.AsyncClient, version: object):
    r = await aclient.post("/predict", json=body(version=version))
    assert r.status_code == 200
    assert r.json()["version"] == "1"


def _problem(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p: dict[str, Any] = r.json()
    assert p["type"] == f"/problems/{kind}"
    assert p["status"] == status
    assert p["title"]
    assert p["detail"]
    return p


async def test_wrong_dimension_is_a_422_naming_input_expected_and_received(
    aclient: httpx.AsyncClient,
):
    r = await aclient.post("/predict", json=body(speed=3, speed_unit="kg"))
    p = _problem(r, 422, "dimension-mismatch")
    assert p["input"] == "speed"
    assert p["expected_dimension"] == "length*time^-1"
    assert p["expected_unit"] == "m/s"
    assert p["received_unit"] == "kg"
    assert p["received_dimension"] == "mass"
    for part in ("speed", "length*time^-1", "kg", "mass"):
        assert part in p["detail"]


async def test_unknown_unit_is_a_422_with_a_suggestion(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body(speed_unit="kmh"))
    p = _problem(r, 422, "unknown-unit")
    assert "speed" in p["detail"]
    assert "kmh" in p["detail"]


async def test_requested_output_unit_of_wrong_dimension(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body(outputs={"range": "s"}))
    p = _problem(r, 422, "dimension-mismatch")
    assert p["output"] == "range"


@pytest.mark.parametrize(
    ("payload", "status", "kind"),
    [
        (body(model="nope"), 404, "model-not-found"),
        (body(version="99"), 404, "model-not-found"),
        (body(angle="45"), 422, "bad-shape"),
        (body(angle=True), 422, "bad-shape"),
        (body(angle=None), 422, "bad-shape"),
        (body(angle=[1, "2"]), 422, "bad-shape"),
        (body(angle=[[1, 2], [3]]), 422, "bad-shape"),
        (body(angle=[]), 422, "bad-shape"),
        (body(angle=[[1, 2]]), 422, "bad-shape"),
        (body(angle={"a": 1}), 422, "bad-shape"),
        (body(angle=[1, 2], speed=[1, 2, 3]), 422, "bad-shape"),
        (body(angle=list(range(1001))), 422, "limit-exceeded"),
        (body(angle=10**400), 422, "bad-shape"),
        (body(outputs={"nope": "m"}), 422, "unexpected-name"),
        (body(outputs={"range": "furlongs per fortnight"}), 422, "unknown-unit"),
        (
            {"model": "projectile", "inputs": {"speed": {"value": 1, "unit": "m/s"}}},
            422,
            "missing-input",
        ),
        (
            {**body(), "inputs": {**body()["inputs"], "mass": {"value": 1, "unit": "kg"}}},
            422,
            "unexpected-name",
        ),
        ({"inputs": {}}, 422, "missing-input"),
        ({}, 422, "invalid-body"),
        ({"model": "projectile", "inputs": {"speed": {"value": 1}}}, 422, "invalid-body"),
        ({**body(), "extra": 1}, 422, "invalid-body"),
        (body(speed_unit=""), 422, "unit-syntax"),
        (body(speed_unit="m" * 300), 422, "unit-limit"),
        (body(speed_unit="degC/s"), 422, "offset-unit"),
        ([1, 2, 3], 422, "invalid-body"),
    ],
)
async def test_bad_payloads_get_problem_details(
    aclient: httpx.AsyncClient, payload: Any, status: int, kind: str
):
    _problem(await aclient.post("/predict", json=payload), status, kind)


@pytest.mark.parametrize("raw", ['{"inputs": ', "not json", '{"inputs": {}} trailing', "\x00"])
async def test_malformed_json_is_a_400(aclient: httpx.AsyncClient, raw: str):
    r = await aclient.post("/predict", content=raw, headers={"content-type": "application/json"})
    _problem(r, 400, "malformed-json")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_numbers_are_refused(aclient: httpx.AsyncClient, literal: str):
    raw = (
        f'{{"inputs": {{"speed": {{"value": {literal}, "unit": "m/s"}}, '
        '"angle": {"value": 1, "unit": "rad"}, "g": {"value": 9.8, "unit": "m/s^2"}}}'
    )
    r = await aclient.post("/predict", content=raw, headers={"content-type": "application/json"})
    p = _problem(r, 422, "non-finite")
    assert p["input"] == "speed"


async def test_output_outside_the_model_domain_is_refused_not_nan(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body(g=0))
    _problem(r, 422, "non-finite")


async def test_conversion_overflow_is_refused(aclient: httpx.AsyncClient):
    r = await aclient.post("/predict", json=body(speed=1e300, speed_unit="Ym/ys"))
    _problem(r, 422, "non-finite")


async def test_list_models_shows_signatures(aclient: httpx.AsyncClient):
    r = await aclient.get("/v1/models")
    assert r.status_code == 200
    data = r.json()
    assert data["default_model"] == "projectile"
    by_name = {m["name"]: m for m in data["models"]}
    assert "projectile" in by_name
    v1 = by_name["projectile"]["versions"][0]
    assert v1["state"] == "ready"
    speed = next(t for t in v1["inputs"] if t["name"] == "speed")
    assert speed == {
        "name": "speed",
        "unit": "m/s",
        "dimension": "length*time^-1",
        "exponents": {"length": 1, "time": -1},
        "shape": [],
        "description": "launch speed",  # the manifest's text, passed through
        "domain": {  # the validity domain the manifest declares, with its unit
            "lower": {"value": 0.0, "unit": "m/s", "open": False},
            "upper": None,
            "description": None,
        },
    }
    assert len(by_name) >= 2  # the analytic model and the learned one


async def test_get_one_model_and_unknown_model(aclient: httpx.AsyncClient):
    r = await aclient.get("/v1/models/projectile")
    assert r.status_code == 200
    assert r.json()["default_version"] == "1"
    _problem(await aclient.get("/v1/models/nope"), 404, "model-not-found")


async def test_unknown_route_and_method_are_problems(aclient: httpx.AsyncClient):
    _problem(await aclient.get("/nope"), 404, "not-found")
    _problem(await aclient.get("/predict"), 405, "method-not-allowed")


async def test_problem_types_dereference(aclient: httpx.AsyncClient):
    for kind in ("dimension-mismatch", "unknown-unit", "model-not-found", "malformed-json"):
        r = await aclient.get(f"/problems/{kind}")
        assert r.status_code == 200
        assert r.json()["type"] == f"/problems/{kind}"
    assert (await aclient.get("/problems/nope")).status_code == 404


async def test_health(aclient: httpx.AsyncClient):
    assert (await aclient.get("/healthz")).json() == {"status": "ok", "models": None}
    r = await aclient.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


async def test_openapi_schema_is_complete_with_examples(aclient: httpx.AsyncClient):
    spec = (await aclient.get("/openapi.json")).json()
    for path in (
        "/predict",
        "/v1/models",
        "/v1/models/{name}",
        "/v1/units/parse",
        "/v1/units/convert",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"], path
    predict = spec["components"]["schemas"]["PredictRequestBody"]
    assert predict["examples"][0]["inputs"]["speed"]["unit"] == "km/h"
    assert set(spec["paths"]["/predict"]["post"]["responses"]) >= {"200", "400", "404", "422"}
