"""One real server for the client tests (gunicorn, one worker, the embedded default models
plus a model that fails to load), with API keys on, started once per session.

Limits are set so that each refusal can be met with a small request: unit expressions of at
most 64 characters, at most 50,000 rows, and the default 1 MiB body (which 40,000 rows of
three inputs pass as binary tensors but not as JSON).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.client import AsyncClient, Client
from service.models import default_repository_path
from tests.support.servers import ServerProcess, run_server

KEY = "client-test-key"
MAX_ROWS = 50_000
MAX_UNIT_LENGTH = 64


def repository(root: Path) -> Path:
    """The embedded models, and ``broken`` (a manifest without its signature): known to
    the server, never ready."""
    repo = root / "models"
    shutil.copytree(default_repository_path(), repo)
    broken = repo / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.yaml").write_text("name: broken\nversion: '1'\n")
    return repo


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
