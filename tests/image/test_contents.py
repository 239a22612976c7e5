"""What the built image holds and how its entrypoint answers: byte code a read-only container
never recompiles, no pip, the labels of this checkout, the accelerator rule, the size bound."""

from __future__ import annotations

import pytest

from tests.support.image_contents import (
    assert_byte_code_compiled,
    assert_labels_name_this_checkout,
    assert_no_installer_or_build_input,
    assert_size_at_most,
)
from tests.support.images import engine, run_job


def test_every_module_loads_from_byte_code_compiled_in_the_image(image: str) -> None:
    assert_byte_code_compiled(image)


def test_the_image_holds_no_installer_and_no_build_input(image: str) -> None:
    """The wheel folder and the CA bundle were mounted into the build, never copied; the
    sources, pip's cache and apt's lists stayed in the builder stage."""
    assert_no_installer_or_build_input(image)


def test_the_labels_name_this_checkout(image: str) -> None:
    assert_labels_name_this_checkout(image, "cpu")


@pytest.mark.parametrize(
    ("env", "args", "code", "said"),
    [
        ({"IMAGE_ACCELERATOR": "cuda"}, ["serve"], 2, "set ALLOW_CPU_FALLBACK=true"),
        ({"ALLOW_CPU_FALLBACK": "perhaps"}, ["serve"], 2, "ALLOW_CPU_FALLBACK"),
        ({}, ["predict"], 2, "unknown command 'predict': expected one of serve, batch, train"),
        (
            {"IMAGE_ACCELERATOR": "cuda", "ALLOW_CPU_FALLBACK": "true"},
            ["batch", "--help"],
            0,
            "device: cpu (fallback allowed by ALLOW_CPU_FALLBACK",
        ),
        ({}, ["train", "--help"], 0, "device: cpu (image built for the CPU)"),
    ],
    ids=["cuda-without-gpu", "bad-setting", "unknown-command", "fallback-allowed", "train"],
)
def test_the_entrypoint_checks_the_device_then_hands_over(
    image: str, env: dict[str, str], args: list[str], code: int, said: str
) -> None:
    result = run_job(image, args, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    assert said in result.stderr


def test_the_image_stays_under_its_size_bound(image: str) -> None:
    """docs/images.md: at or under 1,000 MB."""
    assert_size_at_most(image, 1_000)


def test_home_is_the_users_and_group_0s_for_arbitrary_uids(image: str) -> None:
    """OpenShift runs an arbitrary UID in group 0: HOME (a volume in the chart, the image's
    folder elsewhere) lets group 0 write as its owner does."""
    result = engine("run", "--rm", "--entrypoint=stat", image, "-c", "%a %u %g", "/home/app")
    assert result.stdout.split() == ["775", "10001", "0"], result.stdout + result.stderr
