"""Every problem kind the server emits is raised as its own exception class, carrying the
server's details; each is met against the real server where a request can provoke it, and
all of them through the server's own error shaper (the code that writes the bodies)."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import orjson
import pytest
from dimtensor import DimArray
from dimtensor import units as u

import service.client as sc
from service import errors
from service.client._errors import KINDS, server_error
from service.rest.app import create_app  # noqa: F401  (imports every door's error classes)
from service.rest.native.problems import (
    HTTP_KINDS,
    PROBLEMS,
    describe_kind,
    problem_response,
)
from service.rest.oip.door import OIP_ERRORS
from tests.support.client_server import KEY, MAX_ROWS, MAX_UNIT_LENGTH
from tests.support.servers import ServerProcess

GOOD = {"speed": (72, "km/h"), "angle": (45, "deg"), "g": (9.81, "m/s^2")}
ROWS = np.random.default_rng(0).uniform(1, 2, 40_000)  # about 19 bytes each in JSON
BIG = {"speed": (ROWS, "m/s"), "angle": (ROWS, "rad"), "g": (ROWS, "m/s^2")}  # > 1 MiB as JSON


def with_(**changes: Any) -> dict[str, Any]:
    inputs = {**GOOD, **changes}
    return {k: v for k, v in inputs.items() if v is not None}


# (kind, the call, class, the details the exception must carry)
REAL: list[tuple[str, Any, type[sc.ServerError], dict[str, str]]] = [
    (
        "unit-syntax",
        lambda c: c.predict("projectile", with_(speed=(1, "m//s"))),
        sc.UnitSyntaxError,
        {"input": "speed"},
    ),
    (
        "unknown-unit",
        lambda c: c.predict("projectile", with_(speed=(1, "furlongz"))),
        sc.UnknownUnitError,
        {"input": "speed"},
    ),
    (
        "ambiguous-unit",
        lambda c: c.predict("projectile", with_(speed=(1, "kt"))),
        sc.AmbiguousUnitError,
        {"input": "speed"},
    ),
    ("unit-limit", lambda c: c.parse_unit("m*" * MAX_UNIT_LENGTH + "m"), sc.UnitLimitError, {}),
    (
        "offset-unit",
        lambda c: c.predict("projectile", with_(speed=(1, "degC*m/s"))),
        sc.OffsetUnitError,
        {"input": "speed"},
    ),
    ("incompatible-units", lambda c: c.convert(1, "kg", "m"), sc.IncompatibleUnitsError, {}),
    (
        "dimension-mismatch",
        lambda c: c.predict("projectile", with_(speed=(72, "kg"))),
        sc.DimensionMismatchError,
        {
            "input": "speed",
            "expected_unit": "m/s",
            "expected_dimension": "length*time^-1",
            "received_unit": "kg",
            "received_dimension": "mass",
        },
    ),
    (
        "bad-shape",
        lambda c: c.predict("projectile", with_(speed=([1, 2], "m/s"), angle=([1, 2, 3], "deg"))),
        sc.ShapeError,
        {},
    ),
    (
        "non-finite",
        lambda c: c.predict("projectile", with_(speed=(math.nan, "m/s"))),
        sc.NonFiniteError,
        {"input": "speed"},
    ),
    (
        "missing-input",
        lambda c: c.predict("projectile", with_(g=None)),
        sc.MissingInputError,
        {"input": "g"},
    ),
    (
        "unexpected-name",
        lambda c: c.predict("projectile", with_(mass=(1, "kg"))),
        sc.UnexpectedInputError,
        {"input": "mass"},
    ),
    (
        "unexpected-name",
        lambda c: c.predict("projectile", GOOD, outputs={"height": "m"}),
        sc.UnexpectedInputError,
        {"output": "height"},
    ),
    (
        "limit-exceeded",
        lambda c: c.convert(np.ones(MAX_ROWS + 1), "m", "km"),
        sc.LimitExceededError,
        {},
    ),
    ("model-not-found", lambda c: c.predict("nope", GOOD), sc.ModelNotFoundError, {}),
    ("model-not-ready", lambda c: c.predict("broken", GOOD), sc.ModelNotReadyError, {}),
    ("body-too-large", lambda c: c.predict("projectile", BIG), sc.BodyTooLargeError, {}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "call", "cls", "details"), REAL, ids=[f"{r[0]}-{i}" for i, r in enumerate(REAL)]
)
def test_each_refusal_of_the_real_server_raises_its_class(
    native: sc.Client, kind: str, call: Any, cls: type[sc.ServerError], details: dict[str, str]
) -> None:
    with pytest.raises(cls) as caught:
        call(native)
    exc = caught.value
    assert type(exc) is cls
    assert exc.kind == kind
    assert exc.status in {404, 413, 422, 503}
    assert exc.detail
    assert str(exc) == exc.detail
    assert exc.request_id  # the server's X-Request-ID: what its log names the request by
    for key, value in details.items():
        assert getattr(exc, key) == value, (key, exc.problem)


@pytest.mark.slow
def test_the_remote_error_is_also_the_servers_own_class(native: sc.Client) -> None:
    """One ``except`` for in-process and remote predictions."""
    with pytest.raises(errors.DimensionMismatchError) as caught:
        native.predict("projectile", with_(speed=DimArray(1.0, u.kg)))
    assert isinstance(caught.value, ValueError)
    assert caught.value.details["received_unit"] == "kg"


@pytest.mark.slow
def test_without_the_key_and_at_a_wrong_path(server: ServerProcess) -> None:
    with sc.Client(server.url, api_key="") as anonymous, pytest.raises(sc.AuthenticationError):
        anonymous.model("projectile")
    with sc.Client(server.url, api_key="wrong", protocol="oip") as oip:
        with pytest.raises(sc.AuthenticationError) as caught:
            oip.predict("projectile", GOOD)
        assert caught.value.status == 401
        assert oip.ready() is True  # health stays open
    lost = sc.Client(server.url + "/gateway", api_key=KEY)
    with lost, pytest.raises(sc.NotFoundError) as missing:
        lost.models()
    assert missing.value.kind == "not-found"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("call", "cls", "status"),
    [
        (lambda c: c.predict("projectile", with_(speed=(72, "kg"))), sc.InputError, 400),
        (lambda c: c.predict("projectile", with_(g=None)), sc.InputError, 400),
        (lambda c: c.predict("nope", GOOD), sc.ModelNotFoundError, 404),
        (lambda c: c.predict("broken", GOOD), sc.ModelNotReadyError, 503),
    ],
    ids=["dimension", "missing", "unknown-model", "not-ready"],
)
def test_oip_refusals_raise_by_status(
    server: ServerProcess, call: Any, cls: type[sc.ServerError], status: int
) -> None:
    """OIP errors are ``{"error": ...}``: the class follows the status, the sentence is kept."""
    with sc.Client(server.url, api_key=KEY, protocol="oip") as oip, pytest.raises(cls) as caught:
        call(oip)
    assert type(caught.value) is cls
    assert caught.value.status == status
    assert set(caught.value.problem) == {"error"}
    assert caught.value.detail == caught.value.problem["error"]


def emitted_kinds() -> dict[str, tuple[int, bytes]]:
    """Every kind the server can emit, each with the status and body its native shaper
    writes: one instance per domain error class, and every HTTP-layer kind."""
    scope = {"type": "http", "path": "/predict", "state": {"request_id": "r1"}}
    out: dict[str, tuple[int, bytes]] = {}
    stack: list[type[errors.ServiceError]] = [errors.ServiceError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if issubclass(cls, sc.ServerError):
            continue  # the client's own subclasses
        exc = cls("what went wrong", input="speed", retry_after=3)
        response = PROBLEMS.error(exc, scope)
        out[cls.kind] = (response.status_code, bytes(response.body))
    for kind in HTTP_KINDS:
        status = {
            "malformed-json": 400,
            "not-found": 404,
            "method-not-allowed": 405,
            "body-too-large": 413,
            "unauthorized": 401,
            "request-timeout": 504,
            "invalid-body": 422,
            "internal-error": 500,
        }.get(kind, 418)
        response = problem_response(scope, status, kind, HTTP_KINDS[kind][0], "why")
        out[kind] = (status, bytes(response.body))
    return out


def test_every_kind_the_server_emits_has_its_class() -> None:
    emitted = emitted_kinds()
    assert {"dimension-mismatch", "invalid-tensor", "unauthorized", "overloaded"} <= set(emitted)
    assert set(emitted) - set(KINDS) == set(), "a problem kind the client does not map"
    generic = {k for k in emitted if KINDS[k] is sc.ServerError}
    assert generic == {"service-error", "http-error"}
    for kind, (status, body) in emitted.items():
        exc = server_error(status, orjson.loads(body), {"x-request-id": "r1"})
        assert type(exc) is KINDS[kind], kind
        assert (exc.kind, exc.status, exc.request_id) == (kind, status, "r1")
        for server_class in _all(errors.ServiceError)[1:]:  # the root is no kind of its own
            if server_class.kind == kind and server_class.__module__ == "service.errors":
                assert isinstance(exc, server_class), kind
        assert describe_kind(kind) is not None  # a kind the server documents


def _all(root: type[errors.ServiceError]) -> list[type[errors.ServiceError]]:
    out: list[type[errors.ServiceError]] = [root]
    for sub in root.__subclasses__():
        out.extend(_all(sub))
    return out


def test_an_overloaded_answer_says_when_to_retry() -> None:
    scope = {"type": "http", "path": "/predict"}
    response = PROBLEMS.error(errors.OverloadedError("queue full", retry_after=3), scope)
    headers = {k: v for k, v in response.headers.items()}
    exc = server_error(response.status_code, orjson.loads(bytes(response.body)), headers)
    assert isinstance(exc, sc.OverloadedError)
    assert exc.retry_after == 3
    oip = OIP_ERRORS.error(errors.OverloadedError("queue full", retry_after=5), scope)
    headers = {k: v for k, v in oip.headers.items()}
    exc = server_error(oip.status_code, orjson.loads(bytes(oip.body)), headers)
    assert isinstance(exc, sc.OverloadedError)
    assert exc.retry_after == 5


def test_an_answer_that_is_not_a_problem_still_raises_by_status() -> None:
    exc = server_error(502, "<html>Bad Gateway</html>", {})
    assert type(exc) is sc.ServerError
    assert exc.status == 502
    assert "Bad Gateway" in exc.detail
    unknown = server_error(422, {"type": "/problems/out-of-domain", "detail": "x"}, {})
    assert type(unknown) is sc.InputError
    assert unknown.kind == "out-of-domain"


def test_errors_pickle_whole() -> None:
    exc = server_error(
        422,
        {
            "type": "/problems/dimension-mismatch",
            "title": "Dimension mismatch",
            "status": 422,
            "detail": "input 'speed': ...",
            "input": "speed",
            "received_unit": "kg",
        },
        {"X-Request-ID": "abc"},
    )
    back = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    assert type(back) is sc.DimensionMismatchError
    assert (
        back.status,
        back.kind,
        back.detail,
        back.input,
        back.received_unit,
        back.request_id,
    ) == (422, "dimension-mismatch", "input 'speed': ...", "speed", "kg", "abc")
