"""Shared fixtures (the embedded default repository, loaded once, and app clients), and the
skip gate's registration: a skip or xfail whose reason is not allowed fails the session
(tests/support/skips.py holds the gate and its one table).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from service.models import ModelRepository, default_repository_path
from service.rest.app import create_app
from service.settings import Settings
from tests.support.asgi import PortalClient, asgi_client, portal_client
from tests.support.skips import SkipGate


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
    async with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def sync_client(app: Any) -> Iterator[PortalClient]:
    """The app behind a blocking client, for tests that cannot be async (hypothesis)."""
    with portal_client(app) as client:
        yield client


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipGate(), "skip-gate")
