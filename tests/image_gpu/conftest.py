"""The GPU image (Dockerfile.gpu), built once per session with ``scripts/image.sh build gpu``:
torch's CUDA build and its nvidia-* wheels from PyPI on the CPU image's base. These tests need
no GPU; they run in the cluster tier (``make test-cluster``), whose budget holds the build.
The helpers live in tests/support/images.py and tests/support/image_contents.py."""

from __future__ import annotations

import pytest

from tests.support.images import BUILD_SECONDS, JOB_SECONDS, built_image

pytestmark = pytest.mark.timeout(BUILD_SECONDS + JOB_SECONDS)


@pytest.fixture(scope="session")
def image() -> str:
    """The GPU image's tag, built from this checkout (layers cached by the engine)."""
    return built_image("gpu")
