"""One way into each door: doors as objects on one route table (docs/architecture.md).

What is specified here: every route belongs to a door and is a ``DoorRoute``; the fast
dispatcher and FastAPI's router run the same route objects and answer alike; errors,
refusals included, are shaped by the protocol that owns the path; scheduling and the
access log's model name are the core's; no handler lives in app state.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from service.dataplane import DataPlane, PredictRequest, QuantityIn, requested_model
from service.models import ModelRepository
from service.rest.app import create_app
from service.rest.native.problems import ProblemRoute
from service.rest.oip.door import OipRoute
from service.rest.routing import DoorDispatch, DoorRoute, RouteTable, raw_body
from service.settings import Settings

pytestmark = pytest.mark.anyio

NATIVE = {
    "model": "projectile",
    "inputs": {
        "speed": {"value": 20, "unit": "m/s"},
        "angle": {"value": [30, 45], "unit": "deg"},
        "g": {"value": 9.80665, "unit": "m/s^2"},
    },
}
OIP = {
    "id": "r1",
    "inputs": [
        {"name": "speed", "shape": [1], "datatype": "FP64", "data": [20.0],
         "parameters": {"unit": "km/h"}},
        {"name": "angle", "shape": [1], "datatype": "FP64", "data": [0.5],
         "parameters": {"unit": "rad"}},
        {"name": "g", "shape": [1], "datatype": "FP64", "data": [9.81],
         "parameters": {"unit": "m/s^2"}},
    ],
}  # fmt: skip

# (method, path, body): answers that must not depend on the way into the route.
CASES: list[tuple[str, str, Any]] = [
    ("POST", "/predict", NATIVE),
    ("POST", "/predict", {**NATIVE, "model": "nope"}),
    ("POST", "/predict", {**NATIVE, "inputs": {"speed": {"value": 1, "unit": "kg"}}}),
    ("POST", "/predict", b"{not json"),
    ("POST", "/predict", b""),
    ("POST", "/v2/models/projectile/infer", OIP),
    ("POST", "/v2/models/projectile/versions/1/infer", OIP),
    ("POST", "/v2/models/projectile/versions/9/infer", OIP),
    ("POST", "/v2/models/nope/infer", OIP),
    ("POST", "/v2/models/projectile/infer", b"[1, 2"),
    ("POST", "/v2/models/projectile/infer", {"inputs": "no"}),
]


def _client(asgi: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _send(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    return await client.request(method, path, content=content, headers=headers)


@pytest.fixture
async def two_ways(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The whole app, and FastAPI's router alone (no operations layer, no fast dispatch):
    the second way is what anyone mounting the app's routes elsewhere gets."""
    async with _client(app) as full, _client(app.router) as routed:
        yield full, routed


def test_every_route_of_the_app_belongs_to_a_door(app: Any) -> None:
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path != "/metrics"]
    own = [r for r in routes if isinstance(r, DoorRoute)]
    assert own
    assert own == routes
    protocols = {r.path: type(r) for r in own}
    assert protocols["/predict"] is ProblemRoute
    assert protocols["/v1/units/parse"] is ProblemRoute
    assert all(cls is OipRoute for path, cls in protocols.items() if path.startswith("/v2"))
    raw = sorted((r.path, r.endpoint.__name__) for r in own if r.raw)
    assert raw == [
        ("/predict", "predict"),
        ("/v2/models/{model_name}/infer", "infer"),
        ("/v2/models/{model_name}/versions/{model_version}/infer", "infer_version"),
    ]


def test_no_handler_is_kept_in_app_state(app: Any) -> None:
    callables = {k: v for k, v in vars(app.state)["_state"].items() if callable(v)}
    assert callables == {}


def test_the_fast_dispatch_holds_the_routes_the_router_holds(app: Any) -> None:
    dispatch = _middleware(app, DoorDispatch)
    routed = {id(r) for r in app.router.routes}
    assert [r.path for r in dispatch.routes] == [
        "/predict",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    ]
    assert all(id(r) in routed for r in dispatch.routes)


def _middleware(app: Any, cls: type) -> Any:
    layer = app.middleware_stack or app.build_middleware_stack()
    while layer is not None and not isinstance(layer, cls):
        layer = getattr(layer, "app", None)
    assert layer is not None, f"{cls.__name__} is not in the stack"
    return layer


@pytest.mark.parametrize(("method", "path", "body"), CASES)
async def test_both_ways_into_a_door_answer_alike(
    two_ways: tuple[httpx.AsyncClient, httpx.AsyncClient], method: str, path: str, body: Any
) -> None:
    full, routed = two_ways
    a, b = await _send(full, method, path, body), await _send(routed, method, path, body)
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
    assert a.json() == b.json()
    assert a.status_code != 500


# (path, problem+json?) for paths no route matches or methods a route refuses.
OWNERS = [
    ("/nope", True),
    ("/v1/models/projectile/extra", True),
    ("/v2x", True),
    ("/v2/nope", False),
    ("/v2", False),  # wrong method below
]


@pytest.mark.parametrize(("path", "problem"), OWNERS)
async def test_the_owner_of_a_path_shapes_what_no_route_answers(
    aclient: httpx.AsyncClient, path: str, problem: bool
) -> None:
    r = await aclient.delete(path)
    assert r.status_code in (404, 405)
    if problem:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == r.status_code
    else:
        assert r.headers["content-type"] == "application/json"
        assert set(r.json()) == {"error"}


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/predict", True), ("/v1/units/parse?expr=m", True), ("/v2/models/projectile/infer", False)],
)
async def test_refusals_of_the_operations_layer_speak_the_owners_protocol(
    default_repository: ModelRepository, path: str, problem: bool
) -> None:
    app = create_app(Settings(auth_enabled=True, api_keys="k"), repository=default_repository)
    async with _client(app) as c:
        r = await c.post(path, json={})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    if problem:
        assert r.json()["type"] == "/problems/unauthorized"
    else:
        assert r.json() == {
            "error": "this server requires an API key: send 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'"
        }


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [("/predict", NATIVE, True), ("/v2/models/projectile/infer", OIP, False)],
)
async def test_an_unexpected_failure_is_a_500_in_the_doors_protocol(
    default_repository: ModelRepository,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: Any,
    problem: bool,
) -> None:
    app = create_app(Settings(), repository=default_repository)

    async def broken(self: DataPlane, request: PredictRequest) -> Any:
        raise RuntimeError("a bug, not a client error")

    monkeypatch.setattr(DataPlane, "predict_async", broken)
    async with _client(app) as c:
        r = await c.post(path, json=body, headers={"x-request-id": "bug-1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "bug-1"  # shaped inside the operations layer
    assert "a bug" not in r.text  # no traceback or message leaks to the client
    if problem:
        assert r.json()["type"] == "/problems/internal-error"
        assert r.json()["request_id"] == "bug-1"
    else:
        assert set(r.json()) == {"error"}
        assert "bug-1" in r.json()["error"]
    assert any("a bug, not a client error" in str(rec.exc_info) for rec in caplog.records)


def test_a_raw_endpoint_takes_only_the_request_and_path_parameters() -> None:
    @raw_body
    async def sloppy(request: Request, limit: int = 3) -> Response:  # a query parameter
        return Response()

    router = APIRouter(route_class=ProblemRoute)
    with pytest.raises(TypeError, match="sloppy"):
        router.add_api_route("/x", sloppy, methods=["POST"])


def test_a_door_route_that_is_not_a_door_route_is_refused() -> None:
    class Stray:
        prefix = ""
        shaper = ProblemRoute.shaper
        documented = ()

        def router(self) -> APIRouter:
            router = APIRouter()
            router.add_api_route("/x", self.x)
            return router

        async def x(self) -> dict[str, str]:
            return {}

    with pytest.raises(TypeError, match="not a DoorRoute"):
        RouteTable([Stray()])


# ---------------------------------------------------------------------- core decisions
def _request(rows: int) -> PredictRequest:
    return PredictRequest(
        inputs={
            "speed": QuantityIn([20.0] * rows, "m/s"),
            "angle": QuantityIn(0.5, "rad"),
            "g": QuantityIn(9.81, "m/s^2"),
        },
        model="projectile",
    )


@pytest.mark.parametrize(("rows", "threaded"), [(1, False), (4, False), (5, True), (50, True)])
async def test_the_core_decides_inline_or_thread_by_rows(
    default_repository: ModelRepository, rows: int, threaded: bool
) -> None:
    plane = DataPlane(default_repository, inline_rows=4)
    seen: list[int] = []
    original = plane.run

    def run(prepared: Any) -> Any:
        seen.append(threading.get_ident())
        return original(prepared)

    plane.run = run  # type: ignore[method-assign]
    result = await plane.predict_async(_request(rows))
    assert result.rows == rows
    assert (seen[0] != threading.get_ident()) is threaded


async def test_the_core_reports_the_requested_model_for_the_access_log(
    default_repository: ModelRepository,
) -> None:
    plane = DataPlane(default_repository, default_model="pendulum", inline_rows=0)
    token = requested_model.set(None)
    try:
        await plane.predict_async(_request(3))  # runs in a thread: reported before the hop
        assert requested_model.get() == "projectile"
        with pytest.raises(Exception, match="unknown model 'nope'"):
            await plane.predict_async(PredictRequest(inputs={}, model="nope"))
        assert requested_model.get() == "nope"
        with pytest.raises(Exception, match="needs input"):
            await plane.predict_async(PredictRequest(inputs={}))
        assert requested_model.get() == "pendulum"  # the default model
    finally:
        requested_model.reset(token)


async def test_the_access_line_names_the_model_of_each_door(
    default_repository: ModelRepository, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(access_log_flush_seconds=0), repository=default_repository)
    async with _client(app) as c:
        await c.post("/predict", json=NATIVE, headers={"x-request-id": "n1"})
        await c.post("/v2/models/projectile/infer", json=OIP, headers={"x-request-id": "o1"})
        await c.post("/predict", content=b"{", headers={"x-request-id": "bad"})
        await c.get("/healthz", headers={"x-request-id": "h1"})
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    model = {x["request_id"]: x.get("model") for x in lines if x.get("logger") == "service.access"}
    assert model == {"n1": "projectile", "o1": "projectile", "bad": None, "h1": None}


@pytest.mark.parametrize("path", ["/predict", "/v2/models/projectile/infer", "/v1/units/convert"])
async def test_a_client_gone_before_its_body_is_recorded_499_not_an_error(
    default_repository: ModelRepository,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    """The body never comes (the client disconnected): nothing to answer, no traceback,
    no 5xx in the HTTP series; the access line says 499."""
    app = create_app(Settings(access_log_flush_seconds=0), repository=default_repository)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"gone-1")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    (line,) = [x for x in lines if x.get("request_id") == "gone-1"]
    assert line["status"] == 499
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    async with _client(app) as c:
        text = (await c.get("/metrics")).text
    assert 'status="499"' in text
    assert 'status="500"' not in text
