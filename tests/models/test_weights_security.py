"""Weights files cannot run code: crafted pickles are refused before their payload executes."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.errors import ManifestError
from service.models import load_model
from tests.support.models import mlp_manifest, state_dict_for, torchscript_manifest, write_model


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _state_dict_model(root: Path) -> Path:
    m = mlp_manifest()
    m["weights"] = {"file": "weights.pt", "format": "state_dict"}
    return write_model(root, m)


def test_payload_really_runs_code_under_plain_pickle(tmp_path: Path) -> None:
    """Control: without weights_only the same bytes would create the marker."""
    marker = tmp_path / "PWNED"
    handle = pickle.loads(pickle.dumps(_Payload(marker)))  # noqa: S301 - the point of the test
    handle.close()
    assert marker.exists()


def test_raw_pickle_named_as_state_dict_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = _state_dict_model(tmp_path)
    (folder / "weights.pt").write_bytes(pickle.dumps({"net.0.weight": _Payload(marker)}))
    with pytest.raises(ManifestError, match="could not be read as state_dict"):
        load_model(folder)
    assert not marker.exists()


def test_torch_save_archive_with_payload_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = _state_dict_model(tmp_path)
    torch.save({"net.0.weight": _Payload(marker)}, folder / "weights.pt")
    with pytest.raises(ManifestError, match="only plain tensors are accepted"):
        load_model(folder)
    assert not marker.exists()


def test_pickle_is_refused_even_when_trusted(tmp_path: Path) -> None:
    """Trust only admits TorchScript; state_dict files are always read weights-only."""
    marker = tmp_path / "PWNED"
    folder = _state_dict_model(tmp_path)
    torch.save({"net.0.weight": _Payload(marker)}, folder / "weights.pt")
    with pytest.raises(ManifestError, match="could not be read as state_dict"):
        load_model(folder, trusted=True)
    assert not marker.exists()


def test_non_mapping_state_dict_is_refused(tmp_path: Path) -> None:
    folder = _state_dict_model(tmp_path)
    torch.save([torch.zeros(2)], folder / "weights.pt")
    with pytest.raises(ManifestError) as refused:
        load_model(folder)
    assert refused.value.message == (
        "model 'toy' version '1': weights file 'weights.pt': expected a mapping of tensor "
        "names to tensors, received list"
    )


def test_plain_state_dict_loads(tmp_path: Path) -> None:
    folder = _state_dict_model(tmp_path)
    tensors = state_dict_for(mlp_manifest(), seed=3)
    torch.save(tensors, folder / "weights.pt")
    model = load_model(folder)
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, tensors[key])


class _Doubler(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x[:, 1:]


def test_trusted_torchscript_loads_and_predicts(tmp_path: Path) -> None:
    folder = write_model(tmp_path, torchscript_manifest())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(_Doubler())
        torch.jit.save(scripted, str(folder / "model.pt"))
    model = load_model(folder, trusted=True)
    (out,) = model.predict([np.array([1.0]), np.array([[2.0, 3.0]])])
    np.testing.assert_allclose(out, [[4.0, 6.0]])
