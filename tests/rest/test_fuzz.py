"""No client payload yields a 5xx: hypothesis drives /predict and the unit endpoints."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.asgi import PortalClient

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
unit_texts = st.sampled_from(["m/s", "km/h", "deg", "rad", "kg", "m/s^2", "degC", "1"]) | st.text(
    max_size=30
)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers()
values = (
    numbers
    | st.lists(numbers, max_size=5)
    | st.lists(st.lists(numbers, max_size=3), max_size=3)
    | json_values
)
quantity = st.fixed_dictionaries({"value": values, "unit": unit_texts}) | json_values
names = st.sampled_from(["speed", "angle", "g", "length", "amplitude"]) | st.text(max_size=8)
predict_bodies = (
    st.fixed_dictionaries(
        {"inputs": st.dictionaries(names, quantity, max_size=4)},
        optional={
            "model": st.sampled_from(["projectile", "pendulum"])
            | st.text(max_size=10)
            | json_values,
            "version": st.sampled_from(["1", "2"]) | json_values,
            "outputs": st.dictionaries(names, unit_texts, max_size=3) | json_values,
        },
    )
    | json_values
)


def post_json(client: PortalClient, url: str, body: Any) -> Any:
    """Python's json (NaN and Infinity allowed), as a lenient client would send."""
    return client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=predict_bodies)
def test_predict_never_answers_5xx(sync_client: PortalClient, body: Any):
    r = post_json(sync_client, "/predict", body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"]


@settings(max_examples=200, deadline=None)
@given(expr=st.text(max_size=40), value=values, target=unit_texts)
def test_unit_endpoints_never_answer_5xx(
    sync_client: PortalClient, expr: str, value: Any, target: str
):
    assert sync_client.get("/v1/units/parse", params={"expr": expr}).status_code < 500
    r = post_json(sync_client, "/v1/units/convert", {"value": value, "from": expr, "to": target})
    assert r.status_code < 500, r.text
