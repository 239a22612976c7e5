"""What the GPU image holds, as the CPU image's tests check it (tests/image/test_contents.py):
byte code a read-only container never recompiles, no installer, no build input, the labels of
this checkout, and a size bound."""

from __future__ import annotations

import tomllib

from tests.support.image_contents import (
    build_leftovers,
    head_revision,
    labels,
    pip_refusal,
    stale_byte_code,
)
from tests.support.images import engine
from tests.support.paths import REPO


def test_every_module_loads_from_byte_code_compiled_in_the_image(image: str) -> None:
    checked, stale = stale_byte_code(image)
    assert checked > 500, "the check saw too few modules to mean anything"
    assert stale == [], "\n".join(stale[:20])


def test_the_image_holds_no_installer_and_no_build_input(image: str) -> None:
    assert "No module named pip" in pip_refusal(image).stderr
    assert build_leftovers(image) == []


def test_the_labels_name_this_checkout_and_cuda(image: str) -> None:
    found = labels(image)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert found["org.opencontainers.image.version"] == version
    assert found["org.opencontainers.image.revision"] == head_revision()
    assert found["io.dimtensor.accelerator"] == "cuda"


def test_the_image_stays_under_its_size_bound(image: str) -> None:
    """docs/images.md: at or under 4,500 MB (4,270 MB measured; a size, not a timing)."""
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= 4_500_000_000, f"{size / 1e6:.0f} MB"
