"""Each broken model folder is refused with a ManifestError whose message names the problem."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from service.errors import ManifestError
from service.models import load_manifest, load_model
from tests.support.models import (
    WEIGHTS,
    mlp_manifest,
    projectile_manifest,
    state_dict_for,
    torchscript_manifest,
    write_model,
)

Case = Callable[[Path], Path]


def unknown_unit(root: Path) -> Path:
    m = mlp_manifest()
    m["inputs"][0]["unit"] = "furlongz"
    return write_model(root, m)


def duplicate_inputs(root: Path) -> Path:
    m = mlp_manifest()
    m["inputs"][1]["name"] = "a"
    return write_model(root, m)


def duplicate_across(root: Path) -> Path:
    m = mlp_manifest()
    m["outputs"][0]["name"] = "b"
    return write_model(root, m)


def unknown_architecture(root: Path) -> Path:
    m = mlp_manifest()
    m["architecture"]["name"] = "transformer"
    return write_model(root, m, tensors={})


def bad_param_type(root: Path) -> Path:
    m = mlp_manifest()
    m["architecture"]["params"]["hidden"] = "wide"
    return write_model(root, m, tensors={})


def unknown_param(root: Path) -> Path:
    m = mlp_manifest()
    m["architecture"]["params"]["dropout"] = 0.1
    return write_model(root, m, tensors={})


def bad_activation(root: Path) -> Path:
    m = mlp_manifest()
    m["architecture"]["params"]["activation"] = "sigmoid"
    return write_model(root, m, tensors={})


def width_mismatch(root: Path) -> Path:
    m = mlp_manifest()
    m["architecture"]["params"]["in_features"] = 5
    return write_model(root, m, tensors={})


def missing_weights_file(root: Path) -> Path:
    folder = write_model(root, mlp_manifest())
    (folder / WEIGHTS).unlink()
    return folder


def weights_entry_missing(root: Path) -> Path:
    m = mlp_manifest()
    del m["weights"]
    return write_model(root, m)


def weights_for_analytic(root: Path) -> Path:
    m = projectile_manifest()
    m["weights"] = {"file": WEIGHTS, "format": "safetensors"}
    return write_model(root, m, tensors={"x": torch.zeros(1)})


def missing_tensor(root: Path) -> Path:
    m = mlp_manifest()
    tensors = state_dict_for(m)
    del tensors["net.0.bias"]
    return write_model(root, m, tensors)


def unexpected_tensor(root: Path) -> Path:
    m = mlp_manifest()
    tensors = state_dict_for(m)
    tensors["net.9.weight"] = torch.zeros(2, 2)
    return write_model(root, m, tensors)


def shape_mismatch(root: Path) -> Path:
    m = mlp_manifest()
    tensors = state_dict_for(m)
    tensors["net.0.weight"] = torch.zeros(4, 4)
    return write_model(root, m, tensors)


def integer_tensor(root: Path) -> Path:
    m = mlp_manifest()
    tensors = state_dict_for(m)
    tensors["net.0.bias"] = torch.zeros(4, dtype=torch.int64)
    return write_model(root, m, tensors)


def sha_mismatch(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"]["sha256"] = "0" * 64
    return write_model(root, m)


def sha_malformed(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"]["sha256"] = "abc"
    return write_model(root, m)


def not_safetensors(root: Path) -> Path:
    folder = write_model(root, mlp_manifest())
    (folder / WEIGHTS).write_bytes(b"this is not a safetensors file")
    return folder


def torchscript_untrusted(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"] = {"file": "model.pt", "format": "torchscript"}
    folder = write_model(root, m)
    (folder / "model.pt").write_bytes(b"never read")
    return folder


class _FirstColumn(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


def forward_shape_mismatch(root: Path) -> Path:
    """Only an opaque (trusted TorchScript) module can disagree with the declared widths."""
    folder = write_model(root, torchscript_manifest())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(_FirstColumn()), str(folder / "model.pt"))
    return folder


def torchscript_file_for_code_defined(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"] = {"file": "model.pt", "format": "torchscript"}
    return write_model(root, m)


def torchscript_architecture_without_torchscript(root: Path) -> Path:
    m = torchscript_manifest()
    m["weights"] = {"file": WEIGHTS, "format": "safetensors"}
    return write_model(root, m, tensors={"x": torch.zeros(1)})


def traversal_dotdot(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"]["file"] = "../other/weights.safetensors"
    return write_model(root, m, tensors={})


def traversal_absolute(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"]["file"] = "/etc/passwd"
    return write_model(root, m, tensors={})


def traversal_symlink(root: Path) -> Path:
    outside = root / "outside.safetensors"
    m = mlp_manifest()
    save_file(state_dict_for(m), str(outside))
    m["weights"]["file"] = "link.safetensors"
    folder = write_model(root, m, tensors={})
    (folder / "link.safetensors").symlink_to(outside)
    return folder


def invalid_yaml(root: Path) -> Path:
    folder = root / "toy" / "1"
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text("name: toy\ninputs: [a, b\n", encoding="utf-8")
    return folder


def yaml_not_mapping(root: Path) -> Path:
    folder = root / "toy" / "1"
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    return folder


def unknown_field(root: Path) -> Path:
    m = mlp_manifest()
    m["labels"] = {"team": "x"}
    return write_model(root, m)


def zero_dimension(root: Path) -> Path:
    m = mlp_manifest()
    m["inputs"][1]["shape"] = [0]
    return write_model(root, m)


def bad_tensor_name(root: Path) -> Path:
    m = mlp_manifest()
    m["inputs"][0]["name"] = "a-b"
    return write_model(root, m)


def projectile_wrong_units(root: Path) -> Path:
    m = projectile_manifest()
    m["inputs"][0]["unit"] = "m"
    return write_model(root, m)


def pi_group_not_dimensionless(root: Path) -> Path:
    m = mlp_manifest()
    m["inputs"] = [{"name": "a", "unit": "m"}, {"name": "b", "unit": "s"}]
    m["outputs"] = [{"name": "out", "unit": "m"}]
    m["architecture"] = {
        "name": "pi_group_mlp",
        "params": {"group_exponents": [[1, 0]], "scale_exponents": [[1, 0]], "hidden": [4]},
    }
    return write_model(root, m)


CASES: list[tuple[Case, bool, list[str]]] = [
    (unknown_unit, False, ["input 'a'", "unit 'furlongz'"]),
    (duplicate_inputs, False, ["duplicate tensor name 'a'"]),
    (duplicate_across, False, ["duplicate tensor name 'b'", "inputs", "outputs"]),
    (unknown_architecture, False, ["unknown architecture 'transformer'", "'mlp'"]),
    (bad_param_type, False, ["architecture 'mlp': bad params", "hidden", "received 'wide'"]),
    (unknown_param, False, ["dropout", "unknown field"]),
    (bad_activation, False, ["activation", "tanh"]),
    (width_mismatch, False, ["takes 5 input columns", "inputs have 3"]),
    (missing_weights_file, False, ["weights file 'weights.safetensors' not found"]),
    (weights_entry_missing, False, ["needs a 'weights' entry"]),
    (weights_for_analytic, False, ["'projectile' is analytic and takes no weights"]),
    (missing_tensor, False, ["missing tensors ['net.0.bias']"]),
    (unexpected_tensor, False, ["unexpected tensors ['net.9.weight']"]),
    (shape_mismatch, False, ["'net.0.weight' has shape [4, 4]", "expects [4, 3]"]),
    (integer_tensor, False, ["'net.0.bias' has dtype torch.int64"]),
    (sha_mismatch, False, ["sha256", "expects " + "0" * 64]),
    (sha_malformed, False, ["sha256 must be 64 hexadecimal characters"]),
    (not_safetensors, False, ["could not be read as safetensors"]),
    (torchscript_untrusted, False, ["TorchScript", "not marked trusted"]),
    (torchscript_file_for_code_defined, True, ["go together", "architecture 'mlp'"]),
    (torchscript_architecture_without_torchscript, True, ["go together", "'safetensors'"]),
    (forward_shape_mismatch, True, ["forward pass returned shape [2, 1]", "need [2, 2]"]),
    (traversal_dotdot, False, ["weights.file", "no '..'"]),
    (traversal_absolute, False, ["weights.file", "relative"]),
    (traversal_symlink, False, ["resolves outside the model folder"]),
    (invalid_yaml, False, ["invalid YAML at line 3", "model.yaml"]),
    (yaml_not_mapping, False, ["expected a YAML mapping", "received list"]),
    (unknown_field, False, ["labels", "unknown field"]),
    (zero_dimension, False, ["inputs.1.shape", ">= 1"]),
    (bad_tensor_name, False, ["inputs.0.name", "received 'a-b'"]),
    (projectile_wrong_units, False, ["input column 0 (speed)", "received L"]),
    (pi_group_not_dimensionless, False, ["group_exponents[0]", "dimensionless", "has dimension L"]),
]


@pytest.mark.parametrize(("case", "trusted", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_broken_model_is_refused_with_a_clear_message(
    tmp_path: Path, case: Case, trusted: bool, expected: list[str]
) -> None:
    folder = case(tmp_path)
    with pytest.raises(ManifestError) as info:
        load_model(folder, trusted=trusted)
    for fragment in expected:
        assert fragment in info.value.message, info.value.message


def test_errors_after_parsing_name_the_model_and_version(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_model(shape_mismatch(tmp_path))
    assert info.value.message.startswith("model 'toy' version '1': ")
    assert info.value.details["model"] == "toy"


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    folder = invalid_yaml(tmp_path)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder / "model.yaml")
    assert str(folder / "model.yaml") in info.value.message
    assert info.value.details["path"] == str(folder / "model.yaml")


def test_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(tmp_path / "model.yaml")


def test_sha256_match_loads(tmp_path: Path) -> None:
    folder = write_model(tmp_path, mlp_manifest())
    digest = hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()
    m = mlp_manifest()
    m["weights"]["sha256"] = digest.upper()  # case-insensitive
    write_model(tmp_path, m, state_dict_for(m))
    assert load_model(folder).manifest.weights is not None


def test_integer_version_in_yaml_is_text(tmp_path: Path) -> None:
    m = projectile_manifest()
    folder = tmp_path / "proj" / "1"
    folder.mkdir(parents=True)
    import yaml

    m["version"] = 1
    (folder / "model.yaml").write_text(yaml.safe_dump(m), encoding="utf-8")
    assert load_model(folder).version == "1"
