"""Builders for small model folders on disk: a valid baseline that each test breaks one way."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from service.models import ArchitectureSpec, resolve_architecture

WEIGHTS = "weights.safetensors"


def mlp_manifest(name: str = "toy", version: str = "1") -> dict[str, Any]:
    """Inputs a [m] (scalar) and b [s] (2 per row) -> 3 columns; output out [m] (2 per row)."""
    return {
        "name": name,
        "version": version,
        "description": "toy MLP for tests",
        "inputs": [
            {"name": "a", "unit": "m"},
            {"name": "b", "unit": "s", "shape": [2]},
        ],
        "outputs": [{"name": "out", "unit": "m", "shape": [2]}],
        "architecture": {
            "name": "mlp",
            "params": {"in_features": 3, "out_features": 2, "hidden": [4], "normalize": True},
        },
        "weights": {"file": WEIGHTS, "format": "safetensors"},
    }


def torchscript_manifest(name: str = "ts", version: str = "1") -> dict[str, Any]:
    """The toy signature served by an opaque TorchScript module (``model.pt``)."""
    m = mlp_manifest(name, version)
    m["architecture"] = {"name": "torchscript", "params": {"in_features": 3, "out_features": 2}}
    m["weights"] = {"file": "model.pt", "format": "torchscript"}
    return m


def projectile_manifest(name: str = "proj", version: str = "1") -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "inputs": [
            {"name": "speed", "unit": "m/s"},
            {"name": "angle", "unit": "rad"},
            {"name": "g", "unit": "m/s^2"},
        ],
        "outputs": [
            {"name": "range", "unit": "m"},
            {"name": "apex_height", "unit": "m"},
            {"name": "flight_time", "unit": "s"},
        ],
        "architecture": {"name": "projectile"},
    }


def state_dict_for(manifest: dict[str, Any], seed: int = 0) -> dict[str, torch.Tensor]:
    """Freshly initialised (seeded) weights that fit the manifest's architecture."""
    torch.manual_seed(seed)
    params = resolve_architecture(ArchitectureSpec.model_validate(manifest["architecture"]))
    return {k: v.detach().clone().contiguous() for k, v in params.build().state_dict().items()}


def write_model(
    root: Path,
    manifest: dict[str, Any],
    tensors: dict[str, torch.Tensor] | None = None,
    *,
    folder: tuple[str, str] | None = None,
) -> Path:
    """Write ``root/<name>/<version>/model.yaml`` and, for a weighted manifest, its weights.

    ``tensors=None`` writes weights matching the architecture (when the manifest has weights);
    ``tensors={}`` writes no weights file at all.
    """
    manifest = copy.deepcopy(manifest)
    name, version = folder or (manifest["name"], str(manifest["version"]))
    path = root / name / version
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    weights = manifest.get("weights")
    if weights is not None and weights["format"] == "safetensors":
        if tensors is None:
            tensors = state_dict_for(manifest)
        if tensors:
            save_file(tensors, str(path / weights["file"]))
    return path


def scale_manifest(name: str, version: str = "1") -> dict[str, Any]:
    """One input x [J] -> one output y [J], served by a TorchScript module (``model.pt``)."""
    return {
        "name": name,
        "version": version,
        "inputs": [{"name": "x", "unit": "J"}],
        "outputs": [{"name": "y", "unit": "J"}],
        "architecture": {"name": "torchscript", "params": {"in_features": 1, "out_features": 1}},
        "weights": {"file": "model.pt", "format": "torchscript"},
    }


class Scale(torch.nn.Module):
    """``y = w·x`` with one weight ``w`` of the dtype asked for: a model that computes in
    that dtype (float64 needs TorchScript: the server's own architectures are float32)."""

    def __init__(self, dtype: torch.dtype, weight: float = 1.0) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((1,), weight, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w


def write_torchscript(root: Path, manifest: dict[str, Any], module: torch.nn.Module) -> Path:
    """`manifest` with `module` scripted into its ``model.pt`` (load it trusted)."""
    path = write_model(root, manifest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch deprecates TorchScript
        torch.jit.save(torch.jit.script(module), str(path / manifest["weights"]["file"]))
    return path
