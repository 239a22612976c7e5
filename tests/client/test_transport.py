"""Retries only where they are safe, one connection pool per client, and the key sent as a
bearer token: the policy over a scripted transport, and a real refused connection."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest

from harness.ports import free_port
from service.client import AsyncClient, Client, ClientTimeoutError, ConnectError, Retries
from service.client import TransportError as ClientTransportError

NO_WAIT = Retries(attempts=2, backoff=0)
CONVERTED = orjson.dumps({"value": 1000.0, "unit": "m"})
READY = orjson.dumps({"status": "ready"})


class Script:
    """A transport that fails the first requests with the given errors, then answers."""

    def __init__(self, *failures: type[httpx.TransportError]) -> None:
        self.failures = list(failures)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            raise self.failures.pop(0)("scripted", request=request)
        body = CONVERTED if request.url.path.endswith("convert") else READY
        return httpx.Response(200, content=body)


def scripted(
    *failures: type[httpx.TransportError], key: str | None = None
) -> tuple[Client, Script]:
    script = Script(*failures)
    return Client(
        "http://test", api_key=key, retries=NO_WAIT, transport=httpx.MockTransport(script)
    ), script


def convert(client: Client) -> object:
    return client.convert(1, "km", "m")


def ready(client: Client) -> object:
    return client.ready()


@pytest.mark.parametrize(
    ("call", "failures", "attempts"),
    [
        (convert, [httpx.ConnectError], 2),  # POST, never sent: retried
        (convert, [httpx.ConnectTimeout, httpx.ConnectError], 3),
        (convert, [httpx.PoolTimeout], 2),
        (ready, [httpx.ConnectError, httpx.ConnectError], 3),
        (ready, [httpx.ReadError], 2),  # GET, sent: idempotent, retried
        (ready, [httpx.RemoteProtocolError], 2),
    ],
)
def test_safe_failures_are_retried(
    call: Callable[[Client], object], failures: list[type[httpx.TransportError]], attempts: int
) -> None:
    client, script = scripted(*failures)
    call(client)
    assert len(script.requests) == attempts


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (httpx.ReadError, ClientTransportError),
        (httpx.WriteError, ClientTransportError),
        (httpx.RemoteProtocolError, ClientTransportError),
        (httpx.ReadTimeout, ClientTimeoutError),
    ],
)
def test_a_post_that_may_have_arrived_is_never_sent_again(
    failure: type[httpx.TransportError], raised: type[Exception]
) -> None:
    client, script = scripted(failure)
    with pytest.raises(raised) as caught:
        convert(client)
    assert type(caught.value) is raised
    assert len(script.requests) == 1


def test_retries_run_out() -> None:
    client, script = scripted(*[httpx.ConnectError] * 5)
    with pytest.raises(ConnectError):
        ready(client)
    assert len(script.requests) == 1 + NO_WAIT.attempts


def test_backoff_doubles_up_to_its_cap() -> None:
    retries = Retries(attempts=4, backoff=0.5, max_backoff=1.5)
    assert [retries.delay(n) for n in range(5)] == [0.5, 1.0, 1.5, 1.5, None]


def test_the_key_is_a_bearer_token_and_one_pool_serves_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, script = scripted(key="s3cret")
    ready(client)
    convert(client)
    assert {r.headers["authorization"] for r in script.requests} == {"Bearer s3cret"}
    assert script.requests[0].headers["user-agent"].startswith("dimtensor-serve-client/")
    monkeypatch.setenv("DIMTENSOR_SERVE_API_KEY", "from-env")
    from_env, script = scripted()
    ready(from_env)
    assert script.requests[0].headers["authorization"] == "Bearer from-env"


def test_a_refused_connection_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        Client(url, retries=Retries(attempts=1, backoff=0)) as client,
        pytest.raises(ConnectError, match="could not connect"),
    ):
        client.ready()


@pytest.mark.anyio
async def test_the_async_client_retries_alike() -> None:
    script = Script(httpx.ConnectError)
    async with AsyncClient(
        "http://test", retries=NO_WAIT, transport=httpx.MockTransport(script)
    ) as client:
        assert await client.ready() is True
    assert len(script.requests) == 2
    script = Script(httpx.ReadError)
    async with AsyncClient(
        "http://test", retries=NO_WAIT, transport=httpx.MockTransport(script)
    ) as client:
        with pytest.raises(ClientTransportError):
            await client.convert(1, "km", "m")
    assert len(script.requests) == 1
