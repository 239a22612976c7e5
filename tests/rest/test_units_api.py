"""GET /v1/units/parse and POST /v1/units/convert."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("expr", "dimension", "exponents", "scale", "offset"),
    [
        ("km/h", "length*time^-1", {"length": 1, "time": -1}, 1000 / 3600, 0.0),
        ("kg*m^2/s^2", "mass*length^2*time^-2", None, 1.0, 0.0),
        ("degC", "temperature", {"temperature": 1}, 1.0, 273.15),
        ("1", "dimensionless", {}, 1.0, 0.0),
    ],
)
async def test_parse(aclient: httpx.AsyncClient, expr, dimension, exponents, scale, offset):
    r = await aclient.get("/v1/units/parse", params={"expr": expr})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["expression"] == expr
    if exponents is not None:
        assert info["exponents"] == exponents
        assert info["dimension"] == dimension
    assert info["scale"] == pytest.approx(scale, rel=1e-12)
    assert info["offset"] == pytest.approx(offset, rel=1e-12)
    # The SI form parses back to the same dimension with scale 1.
    si = (await aclient.get("/v1/units/parse", params={"expr": info["si"]})).json()
    assert si["exponents"] == info["exponents"]
    assert si["scale"] == 1.0


@pytest.mark.parametrize(
    ("value", "src", "dst", "want"),
    [
        (100, "km/h", "m/s", 100 / 3.6),
        (20, "degC", "K", 293.15),
        (212, "degF", "degC", 100.0),
        ([0, 1, 2], "eV", "J", [0, 1.602176634e-19, 3.204353268e-19]),
        ([[1, 2], [3, 4]], "ft", "in", [[12, 24], [36, 48]]),
        (1, "kWh", "MJ", 3.6),
    ],
)
async def test_convert(aclient: httpx.AsyncClient, value, src, dst, want):
    r = await aclient.post("/v1/units/convert", json={"value": value, "from": src, "to": dst})
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == dst
    assert np.ravel(r.json()["value"]).tolist() == pytest.approx(np.ravel(want).tolist(), rel=1e-12)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"value": 1, "from": "m", "to": "s"}, "incompatible-units"),
        ({"value": 1, "from": "m", "to": "zz"}, "unknown-unit"),
        ({"value": "1", "from": "m", "to": "km"}, "bad-shape"),
        ({"value": [1, [2]], "from": "m", "to": "km"}, "bad-shape"),
        ({"value": 1, "from": "m"}, "invalid-body"),
        ({"value": 1e308, "from": "Ym", "to": "ym"}, "non-finite"),
    ],
)
async def test_convert_refusals(aclient: httpx.AsyncClient, payload, kind):
    r = await aclient.post("/v1/units/convert", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["type"] == f"/problems/{kind}"


async def test_parse_refusal_names_the_expression(aclient: httpx.AsyncClient):
    r = await aclient.get("/v1/units/parse", params={"expr": "m/s)"})
    assert r.status_code == 422
    assert "m/s)" in r.json()["detail"]
