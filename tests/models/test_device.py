"""Where models compute: ``MODEL_DEVICE`` names it once, :func:`resolve_device` decides what it
means on this machine, and the runtime carries that device to the module and to every batch,
handing back numpy arrays on the CPU.

No test here needs a GPU, and none pretends to have one. "No visible GPU" is made real in a
child process (``CUDA_VISIBLE_DEVICES=""``), so the refusals hold on a GPU machine too. That
the device reaches every tensor is shown with torch's ``meta`` device, the one device besides
the CPU that every build has: a model loaded onto it runs its warm-up forward pass there
(module and batch both moved: mixing devices fails with another message) and then cannot be
copied back to the CPU, because meta tensors hold no data.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.ports import free_port
from harness.procs import WAIT_SECONDS
from harness.server import SERVE, server_env
from service.core import build_dataplane
from service.errors import ManifestError
from service.models import ModelRepository, default_repository_path, load_model
from service.models.runtime import resolve_device
from service.settings import Settings
from tests.support.models import (
    Scale,
    mlp_manifest,
    projectile_manifest,
    scale_manifest,
    write_model,
    write_torchscript,
)

NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # torch then sees no GPU, whatever the machine has
REFUSAL = "'cuda' expects a visible GPU, but torch"
META_REACHED = "Cannot copy out of meta tensor"
HERE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def python(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`script` in a new interpreter with `env` added to this one's environment."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )


# Each kind of module the runtime builds: (folder writer, trusted).
KINDS: dict[str, tuple[Callable[[Path], Path], bool]] = {
    "code-defined with weights": (lambda root: write_model(root, mlp_manifest()), False),
    "analytic": (lambda root: write_model(root, projectile_manifest()), False),
    "torchscript": (
        lambda root: write_torchscript(root, scale_manifest("s"), Scale(torch.float64, 2.0)),
        True,
    ),
}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("cpu", torch.device("cpu")), ("auto", HERE)],
)
def test_a_choice_resolves_to_a_device(choice: Any, expected: torch.device) -> None:
    assert resolve_device(choice) == expected


def test_the_setting_defaults_to_auto() -> None:
    assert Settings().model_device == "auto"


@pytest.mark.parametrize("value", ["gpu", "CUDA:0", ""])
def test_a_device_outside_the_three_is_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODEL_DEVICE", value)
    with pytest.raises(ValidationError, match=r"model_device\n.*'auto', 'cpu' or 'cuda'"):
        Settings()


def test_cuda_without_a_visible_gpu_is_refused_saying_what_torch_sees() -> None:
    done = python(
        "from service.settings import Settings\nSettings()", {**NO_GPU, "MODEL_DEVICE": "cuda"}
    )
    assert done.returncode != 0
    assert "model_device" in done.stderr
    assert f"{REFUSAL} {torch.__version__}" in done.stderr
    assert "sees none" in done.stderr


def test_the_server_refuses_to_start_on_cuda_without_a_gpu(tmp_path: Path) -> None:
    """The real server: its worker refuses the setting, so the master exits, with the reason."""
    env = server_env(tmp_path, free_port(), env={**NO_GPU, "MODEL_DEVICE": "cuda"})
    done = subprocess.run(
        SERVE, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False
    )
    assert done.returncode != 0
    assert REFUSAL in done.stderr


@pytest.mark.parametrize("kind", list(KINDS))
def test_load_and_predict_on_the_cpu_as_by_default(tmp_path: Path, kind: str) -> None:
    write, trusted = KINDS[kind]
    folder = write(tmp_path)
    default = load_model(folder, trusted=trusted)
    on_cpu = load_model(folder, trusted=trusted, device="cpu")
    assert default.device == on_cpu.device == torch.device("cpu")
    assert {t.device for t in on_cpu.module.state_dict().values()} <= {torch.device("cpu")}
    rows = [np.linspace(1.0, 2.0, 5 * s.size).reshape(5, *s.shape) for s in default.manifest.inputs]
    for got, want in zip(on_cpu.predict(rows), default.predict(rows), strict=True):
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype == on_cpu.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_device_reaches_the_module_and_the_batch(tmp_path: Path, kind: str) -> None:
    write, trusted = KINDS[kind]
    with pytest.raises(ManifestError, match=f"warm-up forward pass .* {META_REACHED}"):
        load_model(write(tmp_path), trusted=trusted, device="meta")


def test_the_repository_loads_every_version_onto_its_device(tmp_path: Path) -> None:
    write_model(tmp_path, mlp_manifest("a"))
    write_model(tmp_path, projectile_manifest("b"))
    statuses = ModelRepository.load(tmp_path, device="meta").statuses()
    assert [(s.name, s.state) for s in statuses] == [("a", "failed"), ("b", "failed")]
    assert all(META_REACHED in (s.reason or "") for s in statuses)


def test_every_embedded_model_computes_wholly_on_its_device() -> None:
    """No tensor of theirs is made on the CPU behind the device's back: that would fail
    with a device mismatch, here as on a GPU."""
    statuses = ModelRepository.load(default_repository_path(), device="meta").statuses()
    assert statuses
    for status in statuses:
        assert META_REACHED in (status.reason or ""), (status.name, status.reason)


def test_the_core_loads_models_on_the_settings_device(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest())
    settings = Settings(model_repository=tmp_path, model_device="cpu", default_model=None)
    model = build_dataplane(settings).repository.get("proj")
    assert model.device == torch.device("cpu")


def test_the_load_is_logged_with_its_device_and_dtype(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.models"):
        load_model(write_model(tmp_path, mlp_manifest()))
    assert "model toy/1 ready on cpu, computing in float32" in caplog.messages
