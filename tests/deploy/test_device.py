"""Where the API pods' models compute (``MODEL_DEVICE``, docs/configuration.md): the GPU preset
names the GPU, so a pod that sees none fails at start instead of serving from its CPU; every
other scenario computes where it finds itself (``auto``), and a value may set it either way."""

from __future__ import annotations

import pytest

from tests.support.chart import PRESETS, helm_template, render_with
from tests.support.k8s import Doc


def api_env(docs: list[Doc]) -> dict[str, str]:
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-api")
    ]
    data: dict[str, str] = config["data"]
    return data


@pytest.mark.parametrize(
    ("preset", "device"), [("default", "auto"), ("inference", "auto"), ("gpu", "cuda")]
)
def test_each_preset_names_its_device(preset: str, device: str) -> None:
    assert api_env(render_with(PRESETS[preset]))["MODEL_DEVICE"] == device


def test_the_gpu_preset_may_fall_back_to_the_cpu_by_value() -> None:
    docs = render_with(PRESETS["gpu"], extra=("--set", "api.config.modelDevice=auto"))
    assert api_env(docs)["MODEL_DEVICE"] == "auto"


def test_a_device_outside_the_three_is_refused_by_the_schema() -> None:
    done = helm_template(extra=("--set", "api.config.modelDevice=gpu"))
    assert done.returncode != 0
    assert "/api/config/modelDevice" in done.stderr
