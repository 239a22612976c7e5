"""Limits, auth, request ids and logs: the operations layer around every door."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings
from tests.support.asgi import client_for

pytestmark = pytest.mark.anyio

BODY = {
    "inputs": {
        "speed": {"value": 20, "unit": "m/s"},
        "angle": {"value": 45, "unit": "deg"},
        "g": {"value": 9.80665, "unit": "m/s^2"},
    }
}


@pytest.fixture
async def limited(default_repository: ModelRepository) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(Settings(max_body_bytes=2048, max_rows=10), default_repository):
        yield c


@pytest.fixture
async def secured(
    tmp_path: Path, default_repository: ModelRepository
) -> AsyncIterator[httpx.AsyncClient]:
    keys = tmp_path / "api-keys"
    keys.write_text("# rotated 2026-11\nfile-key-1\n\nfile-key-2\n")
    settings = Settings(auth_enabled=True, api_keys="env-key", api_keys_file=keys)
    async for c in client_for(settings, default_repository):
        yield c


async def test_oversized_body_is_refused_by_content_length(limited: httpx.AsyncClient):
    big = json.dumps({**BODY, "pad": "x" * 5000})
    r = await limited.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    p = r.json()
    assert p["type"] == "/problems/body-too-large"
    assert p["limit"] == 2048
    assert "2048" in p["detail"]
    assert str(len(big)) in p["detail"]


async def test_oversized_chunked_body_is_refused_while_streaming(limited: httpx.AsyncClient):
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b" " * 1024

    r = await limited.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert sent < 10  # stopped reading soon after the limit, not at the end


async def test_oversized_body_on_v2_speaks_the_protocol(limited: httpx.AsyncClient):
    r = await limited.post(
        "/v2/models/projectile/infer",
        content=b"[" * 5000,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert set(r.json()) == {"error"}


async def test_row_limit(limited: httpx.AsyncClient):
    body = {"inputs": {**BODY["inputs"], "speed": {"value": list(range(1, 12)), "unit": "m/s"}}}
    r = await limited.post("/predict", json=body)
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/limit-exceeded"


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer env-key"},
        {"authorization": "bearer file-key-2"},
        {"x-api-key": "file-key-1"},
    ],
)
async def test_auth_accepts_configured_keys(secured: httpx.AsyncClient, headers: dict[str, str]):
    assert (await secured.post("/predict", json=BODY, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic env-key"},
        {"x-api-key": ""},
        {"authorization": "Bearer # rotated 2026-11"},
        {"x-api-key": "env-key "},
    ],
)
async def test_auth_refuses_with_401_and_www_authenticate(secured: httpx.AsyncClient, headers):
    for method, path in (
        ("POST", "/predict"),
        ("POST", "/v2/models/projectile/infer"),
        ("GET", "/v1/models"),
    ):
        r = await secured.request(method, path, json=BODY, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_health_and_metrics_are_exempt(secured: httpx.AsyncClient):
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics"):
        assert (await secured.get(path)).status_code == 200, path


async def test_metrics_can_require_the_key(default_repository: ModelRepository):
    settings = Settings(auth_enabled=True, api_keys="k", metrics_auth=True)
    async for c in client_for(settings, default_repository):
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"x-api-key": "k"})).status_code == 200


def test_auth_without_keys_refuses_to_start(default_repository: ModelRepository):
    with pytest.raises(ValueError, match="API_KEYS"):
        create_app(Settings(auth_enabled=True), repository=default_repository)


async def test_request_id_is_returned_and_made_when_missing(aclient: httpx.AsyncClient):
    r = await aclient.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = (await aclient.get("/healthz")).headers["x-request-id"]
    assert len(made) == 32
    forged = (await aclient.get("/healthz", headers={"x-request-id": "a\tb"})).headers[
        "x-request-id"
    ]
    assert forged != "a\tb"


def access_lines(app: Any, capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The access lines the app wrote to stderr (file descriptor 2) so far."""
    if app.state.access_log is not None:
        app.state.access_log.flush()
    err = capfd.readouterr().err
    return [json.loads(line) for line in err.splitlines() if '"service.access"' in line]


async def test_access_log_is_json_without_payload_values(
    default_repository: ModelRepository, capfd: pytest.CaptureFixture[str]
):
    secret = 123.456789
    body: dict[str, Any] = {"inputs": {**BODY["inputs"], "speed": {"value": secret, "unit": "m/s"}}}
    app = create_app(Settings(), repository=default_repository)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/predict", json=body, headers={"x-request-id": "log-test"})
        assert r.status_code == 200
        refused = await c.post("/predict", json={"inputs": 1}, headers={"x-request-id": "bad"})
        assert refused.status_code == 422
    lines = access_lines(app, capfd)
    line = next(e for e in lines if e["request_id"] == "log-test")
    assert line["logger"] == "service.access"
    assert line["level"] == "info"
    assert line["message"] == "POST /predict 200"
    assert line["status"] == 200
    assert line["path"] == "/predict"
    assert line["method"] == "POST"
    assert line["model"] == "projectile"
    assert line["latency_ms"] > 0
    assert line["time"].endswith("Z")
    assert str(secret) not in json.dumps(lines)
    assert next(e for e in lines if e["request_id"] == "bad")["status"] == 422


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition by (sample name, labels); ``_created`` left out."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


async def test_metrics_endpoint_in_process(aclient: httpx.AsyncClient):
    """One answered POST /predict adds exactly 1 to its own series, and scraping adds
    nothing (the app is shared by the session: compare before and after, not totals)."""
    before = await aclient.get("/metrics")
    assert before.status_code == 200
    r = await aclient.post("/predict", json=BODY)
    assert r.status_code == 200, r.text
    model, version = r.json()["model"], r.json()["version"]
    after = await aclient.get("/metrics")
    assert after.status_code == 200
    old, new = samples(before.text), samples(after.text)

    def series(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return name, frozenset(labels.items())

    grown = {
        series(
            "dimtensor_predictions_total",
            model=model,
            version=version,
            protocol="native",
            outcome="ok",
        ): 1.0,
        series("dimtensor_request_rows_count", model=model): 1.0,
        series("dimtensor_request_rows_sum", model=model): 1.0,  # one row
        series("dimtensor_inference_duration_seconds_count", model=model): 1.0,
        series("http_requests_total", method="POST", status="200", handler="/predict"): 1.0,
        series("http_request_size_bytes_count", handler="/predict"): 1.0,
        series("http_request_size_bytes_sum", handler="/predict"): float(len(r.request.content)),
        series("http_response_size_bytes_count", handler="/predict"): 1.0,
        series("http_response_size_bytes_sum", handler="/predict"): float(len(r.content)),
        series("http_request_duration_seconds_count", method="POST", handler="/predict"): 1.0,
        series("http_request_duration_highr_seconds_count"): 1.0,
    }
    for key, step in grown.items():
        assert new.get(key, 0.0) - old.get(key, 0.0) == step, key
    # The scrapes themselves are kept out of the HTTP series.
    assert not [k for k in new if ("handler", "/metrics") in k[1]]


async def test_slow_request_gets_a_504_problem(default_repository: ModelRepository):
    rows = 50_000
    body = {
        "model": "pendulum",
        "inputs": {
            "length": {"value": [1.0] * rows, "unit": "m"},
            "amplitude": {"value": 0.5, "unit": "rad"},
            "g": {"value": 9.8, "unit": "m/s^2"},
        },
    }
    settings = Settings(request_timeout=0.001, inline_rows=0)
    async for c in client_for(settings, default_repository):
        r = await c.post("/predict", json=body)
        assert r.status_code == 504
        assert r.json()["type"] == "/problems/request-timeout"
        assert (await c.get("/healthz")).status_code == 200  # the server carries on


@pytest.mark.parametrize(
    ("variable", "value"), [("ACCESS_LOG", "false"), ("LOG_LEVEL", "warning")], ids=["off", "level"]
)
async def test_access_log_can_be_switched_off(
    variable: str,
    value: str,
    default_repository: ModelRepository,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv(variable, value)
    app = create_app(Settings(), repository=default_repository)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/predict", json=BODY, headers={"x-request-id": "quiet"})
    assert r.headers["x-request-id"] == "quiet"  # ids still flow
    assert app.state.access_log is None
    assert not access_lines(app, capfd)
