"""One real server for the client tests (gunicorn, one worker, the embedded default models
plus a model that fails to load), with API keys on, started once per session; its key, limits
and repository are in tests/support/client_server.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from service.client import AsyncClient, Client
from tests.support.client_server import KEY, MAX_ROWS, MAX_UNIT_LENGTH, repository
from tests.support.servers import ServerProcess, run_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("client")
    with run_server(
        root,
        workers=1,
        MODEL_REPOSITORY=str(repository(root)),
        AUTH_ENABLED="true",
        API_KEYS=KEY,
        MAX_ROWS=str(MAX_ROWS),
        MAX_UNIT_LENGTH=str(MAX_UNIT_LENGTH),
    ) as s:
        yield s


@pytest.fixture(params=["native", "oip"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(server: ServerProcess, protocol: str) -> Iterator[Client]:
    """A client of each protocol, with the key."""
    with Client(server.url, api_key=KEY, protocol=protocol) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
def native(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url, api_key=KEY) as c:
        yield c


@pytest.fixture
async def async_client(server: ServerProcess, protocol: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.url, api_key=KEY, protocol=protocol) as c:  # type: ignore[arg-type]
        yield c
