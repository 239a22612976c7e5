"""The CPU image, built once per session with ``scripts/image.sh build`` (with the engine that
script chooses: podman here, on a base made locally when no registry answers), and one server
container of it per module. The helpers live in tests/support/images.py.

Nothing here skips: a missing engine fails (``make tools`` installs podman). The build reuses
the engine's layer cache, so a session with unchanged sources rebuilds in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.images import (
    BUILD_SECONDS,
    JOB_SECONDS,
    Container,
    cpu_image,
    start_server,
    stop,
)

# Every test here may build the image first (the session fixture): a timeout for that.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + JOB_SECONDS)


@pytest.fixture(scope="session")
def image() -> str:
    """The CPU image's tag, built from this checkout (layers cached by the engine)."""
    return cpu_image()


@pytest.fixture(scope="module")
def server(image: str) -> Iterator[Container]:
    """One server container of the image, on the embedded models, for a test module."""
    box = start_server(image)
    yield box
    stop(box)
