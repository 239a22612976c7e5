"""Shared fixtures: the embedded default repository, loaded once, and app clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

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
