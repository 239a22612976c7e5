"""The app as an HTTP client sees it, in process: httpx over the ASGI transport, async, or
behind a blocking facade for tests that cannot be async (hypothesis, fixtures of sync tests).
Starlette's TestClient is not used: it wants httpx2."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client of `app` over the ASGI transport (an app error is a 500, as on the
    wire); open it with ``async with``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def client_for(settings: Settings, repo: ModelRepository) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with these settings over `repo` (``async for c in ...``)."""
    async with asgi_client(create_app(settings, repository=repo)) as c:
        yield c


class PortalClient:
    """A blocking facade over an httpx.AsyncClient on the ASGI transport."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@contextmanager
def portal_client(app: Any) -> Iterator[PortalClient]:
    """A blocking client of `app`, its event loop in a portal thread while the block runs."""
    with start_blocking_portal() as portal:
        client = asgi_client(app)
        yield PortalClient(portal, client)
        portal.call(client.aclose)
