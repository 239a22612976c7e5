"""What the GPU image holds, as the CPU image's tests check it (tests/image/test_contents.py):
byte code a read-only container never recompiles, no installer, no build input, the labels of
this checkout, and a size bound."""

from __future__ import annotations

from tests.support.image_contents import (
    assert_byte_code_compiled,
    assert_labels_name_this_checkout,
    assert_no_installer_or_build_input,
    assert_size_at_most,
)


def test_every_module_loads_from_byte_code_compiled_in_the_image(image: str) -> None:
    assert_byte_code_compiled(image)


def test_the_image_holds_no_installer_and_no_build_input(image: str) -> None:
    assert_no_installer_or_build_input(image)


def test_the_labels_name_this_checkout_and_cuda(image: str) -> None:
    assert_labels_name_this_checkout(image, "cuda")


def test_the_image_stays_under_its_size_bound(image: str) -> None:
    """docs/images.md: at or under 4,500 MB (4,270 MB measured)."""
    assert_size_at_most(image, 4_500)
