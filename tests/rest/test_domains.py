"""Validity domains at the HTTP doors: the embedded pendulum is valid for |amplitude| <= 2.8 rad.

At 170 deg (2.97 rad) the surrogate answers 3 % off the exact period. Every door answers it
with the row marked (policy ``flag``, the default) or refuses it naming the input, the bound
in the client's own unit and the value received (``DOMAIN_POLICY=refuse``); the marks come
from the one core path, so native and OIP agree row for row.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def refusing(default_repository: ModelRepository) -> AsyncIterator[httpx.AsyncClient]:
    """The same models behind a server started with ``DOMAIN_POLICY=refuse``."""
    app = create_app(Settings(domain_policy="refuse"), repository=default_repository)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def pendulum(amplitude: Any, unit: str = "deg") -> dict[str, Any]:
    return {
        "model": "pendulum",
        "inputs": {
            "length": {"value": 1, "unit": "m"},
            "amplitude": {"value": amplitude, "unit": unit},
            "g": {"value": 9.81, "unit": "m/s^2"},
        },
    }


def oip_pendulum(amplitudes: list[float], unit: str = "deg") -> dict[str, Any]:
    rows = len(amplitudes)

    def tensor(name: str, data: list[float], unit: str) -> dict[str, Any]:
        return {
            "name": name,
            "shape": [rows],
            "datatype": "FP64",
            "data": data,
            "parameters": {"unit": unit},
        }

    return {
        "inputs": [
            tensor("length", [1.0] * rows, "m"),
            tensor("amplitude", amplitudes, unit),
            tensor("g", [9.81] * rows, "m/s^2"),
        ]
    }


# (amplitudes sent, unit, the rows outside) -- the bound is 2.8 rad = 160.43 deg
FLAGGED = [
    (170, "deg", [0]),  # one unbatched value, as a client sends it
    ([170], "deg", [0]),
    ([10, 170, 60, -170], "deg", [1, 3]),
    ([160, -160], "deg", []),  # inside, both signs
    (2.8, "rad", []),  # the bound itself is inside (closed)
    (2.80001, "rad", [0]),
    ([3000, 2800], "mrad", [0]),
]


@pytest.mark.parametrize(("amplitude", "unit", "outside"), FLAGGED)
async def test_native_flags_the_rows_outside(
    aclient: httpx.AsyncClient, amplitude: Any, unit: str, outside: list[int]
) -> None:
    r = await aclient.post("/predict", json=pendulum(amplitude, unit))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outputs"]["period"]["unit"] == "s"  # answered either way
    if outside:
        assert body["outside_domain"] == {"amplitude": outside}
    else:
        assert "outside_domain" not in body  # absent: every row inside


@pytest.mark.parametrize(("amplitude", "unit", "outside"), FLAGGED)
async def test_oip_flags_the_same_rows_in_a_response_parameter(
    aclient: httpx.AsyncClient, amplitude: Any, unit: str, outside: list[int]
) -> None:
    values = amplitude if isinstance(amplitude, list) else [amplitude]
    r = await aclient.post("/v2/models/pendulum/infer", json=oip_pendulum(values, unit))
    assert r.status_code == 200, r.text
    parameters = r.json().get("parameters") or {}
    if outside:
        assert json.loads(parameters["outside_domain"]) == {"amplitude": outside}
    else:
        assert "outside_domain" not in parameters


async def test_native_refuses_with_the_bound_in_the_clients_unit(
    refusing: httpx.AsyncClient,
) -> None:
    r = await refusing.post("/predict", json=pendulum(170))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "/problems/outside-domain"
    assert problem["input"] == "amplitude"
    assert problem["received_value"] == 170
    assert problem["received_unit"] == "deg"
    assert problem["lower"] == pytest.approx(-160.428183)  # -2.8 rad, in degrees
    assert problem["upper"] == pytest.approx(160.428183)
    detail = problem["detail"]
    for part in ("'amplitude'", "170 deg", "[-160.428, 160.428] deg", "[-2.8, 2.8] rad"):
        assert part in detail, detail


async def test_native_refusal_names_the_first_row_outside(refusing: httpx.AsyncClient) -> None:
    r = await refusing.post("/predict", json=pendulum([10, 20, -175, 170]))
    problem = r.json()
    assert (r.status_code, problem["row"], problem["received_value"]) == (422, 2, -175)
    assert problem["rows_outside"] == 2


async def test_oip_refuses_with_its_error_shape(refusing: httpx.AsyncClient) -> None:
    r = await refusing.post("/v2/models/pendulum/infer", json=oip_pendulum([10, 170]))
    assert r.status_code == 400  # the protocol's status for bad input
    error = r.json()["error"]
    assert "'amplitude'" in error
    assert "170 deg" in error
    assert "160.428" in error


async def test_inside_the_domain_refuse_answers_as_usual(refusing: httpx.AsyncClient) -> None:
    r = await refusing.post("/predict", json=pendulum([30, 160]))
    assert r.status_code == 200
    assert "outside_domain" not in r.json()


@pytest.mark.parametrize(
    ("inputs", "outside"),
    [
        ({"speed": (-1, "m/s"), "angle": (45, "deg"), "g": (9.81, "m/s^2")}, {"speed": [0]}),
        ({"speed": (10, "m/s"), "angle": (91, "deg"), "g": (9.81, "m/s^2")}, {"angle": [0]}),
        ({"speed": (10, "m/s"), "angle": (90, "deg"), "g": (9.81, "m/s^2")}, {}),  # closed
        ({"speed": (10, "m/s"), "angle": (45, "deg"), "g": (-9.81, "m/s^2")}, {"g": [0]}),
        ({"speed": (0, "km/h"), "angle": (0, "rad"), "g": (1e-9, "m/s^2")}, {}),
    ],
)
async def test_the_projectile_declares_its_physical_domain(
    aclient: httpx.AsyncClient, inputs: dict[str, tuple[float, str]], outside: dict[str, Any]
) -> None:
    body = {
        "model": "projectile",
        "inputs": {n: {"value": v, "unit": u} for n, (v, u) in inputs.items()},
    }
    r = await aclient.post("/predict", json=body)
    assert r.status_code == 200, r.text
    assert r.json().get("outside_domain", {}) == outside


async def test_model_metadata_shows_the_domain_and_the_policy(aclient: httpx.AsyncClient) -> None:
    version = (await aclient.get("/v1/models/pendulum")).json()["versions"][0]
    assert version["domain_policy"] == "flag"
    amplitude = next(t for t in version["inputs"] if t["name"] == "amplitude")
    assert amplitude["domain"] == {
        "lower": {"value": -2.8, "unit": "rad", "open": False},
        "upper": {"value": 2.8, "unit": "rad", "open": False},
        "description": None,
    }
    meta = (await aclient.get("/v2/models/pendulum")).json()
    assert meta["parameters"] == {"domain_policy": "flag"}
    tensor = next(t for t in meta["inputs"] if t["name"] == "amplitude")
    assert json.loads(tensor["parameters"]["domain"]) == {
        "lower": {"value": -2.8, "unit": "rad", "open": False},
        "upper": {"value": 2.8, "unit": "rad", "open": False},
    }


async def test_rows_outside_are_counted_by_model_and_input(app: Any) -> None:
    metrics = app.state.metrics
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        metrics.flush()
        before = _outside_count(metrics)
        r = await client.post("/predict", json=pendulum([170, 175, 10]))
        assert r.status_code == 200
        metrics.flush()
        text = (await client.get("/metrics")).text
    assert _outside_count(metrics) == before + 2
    assert 'dimtensor_outside_domain_rows_total{input="amplitude",model="pendulum"}' in text


def _outside_count(metrics: Any) -> float:
    value = metrics.registry.get_sample_value(
        "dimtensor_outside_domain_rows_total", {"model": "pendulum", "input": "amplitude"}
    )
    return float(value or 0.0)
