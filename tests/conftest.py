"""Shared fixtures: the embedded default repository, loaded once, and app clients."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from service.models import ModelRepository, default_repository_path
from service.rest.app import create_app
from service.settings import Settings


@pytest.fixture(scope="session")
def default_repository() -> ModelRepository:
    """The embedded default models, loaded once per test session."""
    return ModelRepository.load(default_repository_path())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(max_rows=1000)


@pytest.fixture(scope="session")
def app(settings: Settings, default_repository: ModelRepository) -> Any:
    return create_app(settings, repository=default_repository)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def aclient(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """httpx over the ASGI transport: the app exactly as an HTTP client sees it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


class PortalClient:
    """A blocking facade over an httpx.AsyncClient on the ASGI transport, for tests that
    cannot be async (hypothesis). Starlette's TestClient is not used: it wants httpx2."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture(scope="module")
def sync_client(app: Any) -> Iterator[PortalClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        yield PortalClient(portal, client)
        portal.call(client.aclose)
