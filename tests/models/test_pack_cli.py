"""``dimtensor-serve pack``: the command line of pack, as a user runs it (a real process of the
installed console script), and its refusals: exit 2, one line on stderr, no traceback,
nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from dimtensor import Dimension
from safetensors.torch import save_file

from jobkit.exits import ExitCode
from service.models import ModelRepository
from service.models.pack_cli import main, parse_tensor
from tests.support.packs import files_under, mlp, mlp_params, save_package

SCRIPT = Path(sys.executable).with_name("dimtensor-serve")
SIGNATURE = ["--input", "speed=m/s", "--input", "pos=km[3]", "--output", "energy=J"]


def run_pack(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``dimtensor-serve pack ARGS`` in a process of its own."""
    return subprocess.run(
        [str(SCRIPT), "pack", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("text", "name", "spec"),
    [
        ("speed=m/s", "speed", {"unit": "m/s", "shape": []}),
        ("pos=m[3]", "pos", {"unit": "m", "shape": [3]}),
        ("field=V/m[2, 3]", "field", {"unit": "V/m", "shape": [2, 3]}),
        ("x=kg*m^2/s^2", "x", {"unit": "kg*m^2/s^2", "shape": []}),
        ("ratio=1[]", "ratio", {"unit": "1", "shape": []}),
    ],
)
def test_a_tensor_argument_reads_as_name_unit_and_shape(
    text: str, name: str, spec: dict[str, Any]
) -> None:
    assert parse_tensor(text) == (name, spec)


def test_weights_from_a_safetensors_file_with_params_from_a_file(tmp_path: Path) -> None:
    weights, params = tmp_path / "trained.safetensors", tmp_path / "params.yaml"
    save_file(dict(mlp(4, 1).state_dict()), str(weights))
    params.write_text(yaml.safe_dump(mlp_params(4, 1)))
    done = run_pack(
        "--repository", tmp_path / "models", "--name", "toy", "--architecture", "mlp",
        "--params", f"@{params}", "--weights", weights, *SIGNATURE,
        "--description", "a toy energy",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tmp_path / 'models' / 'toy' / '1'}\n"
    model = ModelRepository.load(tmp_path / "models").get("toy", "1")
    assert [(s.name, s.unit, s.shape) for s in model.manifest.inputs] == [
        ("speed", "m/s", []),
        ("pos", "km", [3]),
    ]
    assert model.manifest.description == "a toy energy"


def test_a_state_dict_into_the_repository_the_environment_names(tmp_path: Path) -> None:
    weights = tmp_path / "trained.pt"
    torch.save(mlp(4, 1).state_dict(), weights)
    args: list[str | Path] = [
        "--name",
        "toy",
        "--architecture",
        "mlp",
        "--weights",
        weights,
        *SIGNATURE,
    ]
    params = ["--params", json.dumps(mlp_params(4, 1))]
    done = run_pack(*args, *params, "--domain-policy", "refuse", MODEL_REPOSITORY=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "toy" / "1"
    assert ModelRepository.load(tmp_path).get("toy").manifest.domain_policy == "refuse"


def test_a_dimtensor_package_with_a_unit_override(tmp_path: Path) -> None:
    speed, area = Dimension(length=1, time=-1), Dimension(length=2)
    package = save_package(
        tmp_path / "pkg", mlp(2, 1), {"speed": speed, "area": area}, {"drag": Dimension(mass=1)}
    )
    done = run_pack(
        "--repository", tmp_path / "models", "--name", "drag", "--architecture", "mlp",
        "--params", json.dumps(mlp_params(2, 1)), "--from-package", package,
        "--unit", "speed=km/h", "--unit", "drag=g",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = ModelRepository.load(tmp_path / "models").get("drag", "1").manifest
    assert [(s.name, s.unit) for s in [*manifest.inputs, *manifest.outputs]] == [
        ("speed", "km/h"),
        ("area", "m^2"),
        ("drag", "g"),
    ]


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        pytest.param(
            lambda folder: torch.save(mlp(3, 1).state_dict(), folder / "trained.pt"),
            ["tensor 'net.0.weight' has shape [8, 3], architecture 'mlp' expects [8, 4]"],
            id="misshapen-weights",
        ),
        pytest.param(
            lambda folder: (folder / "trained.pt").write_bytes(b"not a torch file"),
            ["weights file 'trained.pt' could not be read as state_dict"],
            id="not-a-state-dict",
        ),
    ],
)
def test_a_refusal_is_exit_2_with_the_message_and_nothing_written(
    tmp_path: Path, spoil: Any, words: list[str]
) -> None:
    spoil(tmp_path)
    done = run_pack(
        "--repository", tmp_path / "models", "--name", "toy", "--architecture", "mlp",
        "--params", json.dumps(mlp_params(4, 1)), "--weights", tmp_path / "trained.pt",
        *SIGNATURE,
    )  # fmt: skip
    assert done.returncode == ExitCode.CONFIG
    for word in words:
        assert word in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert files_under(tmp_path / "models") == []


def test_a_pickled_package_is_refused_by_the_command(tmp_path: Path) -> None:
    package = save_package(
        tmp_path / "pkg", {"w": [1.0]}, {"x": Dimension()}, {"y": Dimension()}, framework="numpy"
    )
    done = run_pack(
        "--repository", tmp_path / "models", "--name", "m", "--architecture", "mlp",
        "--from-package", package,
    )  # fmt: skip
    assert done.returncode == ExitCode.CONFIG
    assert "holds model.pkl, a pickled model; refused, because unpickling runs code" in done.stderr
    assert "Traceback" not in done.stderr


ARGUMENT_REFUSALS: list[tuple[str, list[str], str]] = [
    ("package-and-inputs", ["--from-package", "pkg", "--input", "x=m"], "expected no --input"),
    ("unit-without-package", [*SIGNATURE, "--unit", "x=m"], "--unit applies to --from-package"),
    ("no-output", ["--input", "x=m"], "no --output: expected at least one --output"),
    ("no-input", ["--output", "x=m"], "no --input: expected at least one --input"),
    ("params-not-json", [*SIGNATURE, "--params", "{hidden: 3"], "--params: not valid JSON"),
    ("params-not-an-object", [*SIGNATURE, "--params", "[1, 2]"], "expected a JSON object"),
    ("weights-of-unknown-format", [*SIGNATURE, "--weights", "w.bin"], "received .bin"),
    ("weights-missing", [*SIGNATURE, "--weights", "none.pt"], "none.pt: no such file"),
    ("input-twice", ["--input", "x=m", *SIGNATURE, "--input", "x=s"], "'x' is given twice"),
]


@pytest.mark.parametrize(
    ("args", "words"), [pytest.param(a, w, id=i) for i, a, w in ARGUMENT_REFUSALS]
)
def test_arguments_that_cannot_pack_are_refused_before_anything_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["--repository", "models", "--name", "toy", "--architecture", "mlp"]
    assert main([*base, *args]) == ExitCode.CONFIG
    assert words in capsys.readouterr().err
    assert files_under(tmp_path) == []


def test_without_a_repository_it_says_where_one_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODEL_REPOSITORY", raising=False)
    assert main(["--name", "toy", "--architecture", "mlp", *SIGNATURE]) == ExitCode.CONFIG
    assert "expected --repository DIR or MODEL_REPOSITORY" in capsys.readouterr().err


def test_a_malformed_tensor_argument_is_an_argparse_refusal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--name", "toy", "--architecture", "mlp", "--input", "pos=m[3"])
    assert caught.value.code == ExitCode.CONFIG
    assert "expected NAME=UNIT or NAME=UNIT[SHAPE]" in capsys.readouterr().err
