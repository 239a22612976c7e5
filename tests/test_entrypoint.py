"""``dimtensor``, the image's entrypoint, in process: it says the device, refuses what it must
with exit 2 and the reason, and otherwise becomes the workload's console script (os.execv
is replaced by a recorder here; tests/image runs the real one in the image)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from container import entrypoint
from container.accelerator import AcceleratorMissingError, AcceleratorSettings, describe_device


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each execv the entrypoint makes, as its argv, instead of making it."""
    calls: list[list[str]] = []

    def record(path: Path, argv: list[str]) -> None:
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr("container.entrypoint.os.execv", record)
    monkeypatch.delenv("IMAGE_ACCELERATOR", raising=False)
    monkeypatch.delenv("ALLOW_CPU_FALLBACK", raising=False)
    return calls


@pytest.mark.parametrize(
    ("argv", "script", "rest"),
    [
        ([], "dimtensor-serve", []),
        (["serve"], "dimtensor-serve", []),
        (["serve", "--workers", "3"], "dimtensor-serve", ["--workers", "3"]),
        (["batch", "run", "/config/x.yaml"], "dimtensor-batch", ["run", "/config/x.yaml"]),
        (["train", "launch", "c.yaml"], "dimtensor-train", ["launch", "c.yaml"]),
    ],
)
def test_each_command_becomes_its_console_script(
    handed_over: list[list[str]], argv: list[str], script: str, rest: list[str]
) -> None:
    with pytest.raises(SystemExit):
        entrypoint.main(argv)
    (call,) = handed_over
    assert call == [str(Path(sys.executable).with_name(script)), *rest]
    assert Path(call[0]).exists(), "the console script is installed beside this Python"


def test_an_unknown_command_is_refused_with_the_known_ones(
    handed_over: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert entrypoint.main(["predict"]) == 2
    assert handed_over == []
    err = capsys.readouterr().err
    assert "unknown command 'predict': expected one of serve, batch, train" in err
    assert "usage: dimtensor" in err


def test_the_device_is_said_before_the_hand_over(
    handed_over: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        entrypoint.main(["serve"])
    assert "INFO dimtensor: device: cpu (image built for the CPU)" in capsys.readouterr().err


def test_a_gpu_image_without_a_gpu_exits_2_unless_the_cpu_is_allowed(
    handed_over: list[list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_ACCELERATOR", "cuda")  # torch here is the CPU build: no GPU
    assert entrypoint.main(["train", "run", "c.yaml"]) == 2
    assert handed_over == []
    assert "set ALLOW_CPU_FALLBACK=true to run on the CPU" in capsys.readouterr().err
    monkeypatch.setenv("ALLOW_CPU_FALLBACK", "true")
    with pytest.raises(SystemExit):
        entrypoint.main(["train", "run", "c.yaml"])
    assert len(handed_over) == 1
    assert "device: cpu (fallback allowed by ALLOW_CPU_FALLBACK" in capsys.readouterr().err


def test_a_malformed_setting_is_refused_naming_it(
    handed_over: list[list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_ACCELERATOR", "tpu")
    assert entrypoint.main(["serve"]) == 2
    assert "IMAGE_ACCELERATOR" in capsys.readouterr().err


def test_the_cpu_image_never_imports_torch_to_say_its_device() -> None:
    """The CPU image's check costs nothing: a fresh interpreter describes the device with
    torch still unimported."""
    code = (
        "import sys; from container.accelerator import AcceleratorSettings, describe_device;"
        "print(describe_device(AcceleratorSettings())); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    ).stdout
    assert out.split("\n")[:2] == ["cpu (image built for the CPU)", "False"]


def test_describe_device_raises_rather_than_falling_back_silently() -> None:
    with pytest.raises(AcceleratorMissingError, match="sees no GPU"):
        describe_device(AcceleratorSettings(image_accelerator="cuda"))


def test_every_accelerator_setting_is_documented_with_its_default() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "images.md").read_text()
    for name, field in AcceleratorSettings.model_fields.items():
        alias = field.validation_alias
        default = str(field.default).lower()
        assert f"| `{alias}` | `{default}`" in doc, name
