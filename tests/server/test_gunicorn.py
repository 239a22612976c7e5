"""The server as users run it: gunicorn with 2 uvicorn workers on a loopback port."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess, run_server

pytestmark = pytest.mark.slow

G0 = 9.80665


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with run_server(tmp_path_factory.mktemp("gunicorn"), workers=2) as s:
        yield s


def predict(server: ServerProcess, payload: object) -> httpx.Response:
    return httpx.post(server.url + "/predict", json=payload, timeout=30)


def test_two_workers_serve_the_readme_example(server: ServerProcess):
    assert len(server.workers()) == 2
    payload = {
        "model": "projectile",
        "inputs": {
            "speed": {"value": 72, "unit": "km/h"},
            "angle": {"value": 45, "unit": "deg"},
            "g": {"value": G0, "unit": "m/s^2"},
        },
        "outputs": {"range": "m"},
    }
    r = predict(server, payload)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["range"]["value"] == pytest.approx(400 / G0, rel=1e-6)


def test_same_quantity_in_two_unit_systems_agrees(server: ServerProcess):
    si = {
        "speed": {"value": 30, "unit": "m/s"},
        "angle": {"value": 0.5, "unit": "rad"},
        "g": {"value": G0, "unit": "m/s^2"},
    }
    imperial = {
        "speed": {"value": 30 / 0.3048, "unit": "ft/s"},
        "angle": {"value": math.degrees(0.5), "unit": "deg"},
        "g": {"value": G0 / 0.3048, "unit": "ft/s^2"},
    }
    a = predict(server, {"model": "projectile", "inputs": si}).json()["outputs"]
    b = predict(server, {"model": "projectile", "inputs": imperial}).json()["outputs"]
    for name in a:
        assert b[name]["value"] == pytest.approx(a[name]["value"], rel=1e-9)


HOSTILE_BODIES: list[bytes] = [
    b"[" * 100_000,
    b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"inputs": {"speed": {"value": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b', "unit": "m/s"}}}',
    b'{"inputs": {"speed": {"value": NaN, "unit": "m/s"}}}',
    b'{"inputs": {"speed": {"value": 1, "unit": "__class__.__subclasses__()"}}}',
    b'{"inputs": {"speed": {"value": 1, "unit": "' + b"(" * 5000 + b'"}}}',
    b'{"inputs": {"speed": {"value": 1, "unit": "m^99999999999999999999"}}}',
    b'{"inputs": {"speed": {"value": 1, "unit": "\\u0000"}}}',
    b"\xff\xfe\x00garbage",
    b'{"model": {"$gt": ""}}',
    b'{"inputs": {"speed": {"value": 18446744073709551616, "unit": "m/s"}}}',
]


@pytest.mark.parametrize("raw", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_payloads_get_4xx_and_never_kill_a_worker(server: ServerProcess, raw: bytes):
    before = server.workers()
    r = httpx.post(
        server.url + "/predict",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert server.workers() == before
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200


_SPEED = b'{"name": "speed", "shape": [1], "datatype": "FP64", "parameters": {"unit": "m/s"}'
OIP_HOSTILE: list[tuple[bytes, dict[str, str]]] = [
    (b"[" * 100_000, {}),
    (b'{"inputs": [' + _SPEED + b', "data": ' + b"[" * 5000 + b"]" * 5000 + b"}]}", {}),
    (b'{"inputs": [' + _SPEED + b', "data": [1e999]}]}', {}),
    (
        b'{"inputs": [{"name": "speed", "shape": [99999999999], "datatype": "FP64", "data": [1]}]}',
        {},
    ),
    (b'{"inputs": [{"name": "speed", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}', {}),
    # binary extension: header longer than the body, sizes that do not add up, bad datatype
    (b'{"inputs": []}', {"inference-header-content-length": "999"}),
    (
        b'{"inputs": [{"name": "speed", "shape": [4], "datatype": "FP64", '
        b'"parameters": {"binary_data_size": 32, "unit": "m/s"}}]}\x00\x01',
        {"inference-header-content-length": "98"},
    ),
    (
        b'{"inputs": [{"name": "speed", "shape": [1], "datatype": "BOOL", '
        b'"parameters": {"binary_data_size": 1}}]}\x01',
        {"inference-header-content-length": "86"},
    ),
]


@pytest.mark.parametrize(("raw", "headers"), OIP_HOSTILE, ids=range(len(OIP_HOSTILE)))
def test_hostile_oip_payloads_get_4xx_and_never_kill_a_worker(
    server: ServerProcess, raw: bytes, headers: dict[str, str]
):
    before = server.workers()
    r = httpx.post(
        server.url + "/v2/models/projectile/infer",
        content=raw,
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == {"error"}
    assert server.workers() == before
    assert httpx.get(server.url + "/v2/health/ready", timeout=5).status_code == 200


def test_gunicorn_config_comes_from_settings(tmp_path: Path):
    with run_server(
        tmp_path, workers=1, TIMEOUT="17", GRACEFUL_TIMEOUT="3", KEEPALIVE="4", LOG_LEVEL="debug"
    ) as s:
        assert len(s.workers()) == 1
        assert httpx.get(s.url + "/healthz", timeout=5).json()["status"] == "ok"
        log = s.log_text()
    # gunicorn prints its effective configuration at debug level
    for line in (
        "timeout: 17",
        "graceful_timeout: 3",
        "keepalive: 4",
        "workers: 1",
        "service.worker.Worker",
    ):
        assert line in log, line


def test_access_lines_of_an_idle_worker_are_written_within_the_flush_interval(
    server: ServerProcess,
):
    """Access lines are batched (ACCESS_LOG_FLUSH_SECONDS, 1 s by default): a worker that
    gets no further request still writes them, from its lifespan task."""
    r = httpx.get(server.url + "/v1/models", headers={"x-request-id": "idle-flush"}, timeout=5)
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while '"idle-flush"' not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(ln for ln in server.log_text().splitlines() if '"idle-flush"' in ln)
    entry = json.loads(line)
    assert entry["logger"] == "service.access"
    assert entry["path"] == "/v1/models"
    assert entry["status"] == 200
