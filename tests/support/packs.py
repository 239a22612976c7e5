"""What the pack tests start from: a small trained-looking MLP, a dimtensor model package
written by dimtensor's own ``DimModelPackage.save``, and a listing of a repository's files
(what a refusal must leave as it was)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from dimtensor import Dimension
from dimtensor.hub import DimModelPackage, ModelCard
from dimtensor.hub.registry import ModelInfo

from service.models.architectures import MLPParams


def mlp_params(n_in: int, n_out: int) -> dict[str, Any]:
    """The params of a small ``mlp`` from `n_in` input columns to `n_out` output columns."""
    return {"in_features": n_in, "out_features": n_out, "hidden": [8]}


def mlp(n_in: int, n_out: int, seed: int = 0) -> torch.nn.Module:
    """A seeded ``mlp`` module of :func:`mlp_params`, as a user's trained one would be."""
    torch.manual_seed(seed)
    return MLPParams.model_validate(mlp_params(n_in, n_out)).build().eval()


def save_package(
    folder: Path,
    module: Any,
    inputs: Mapping[str, Dimension],
    outputs: Mapping[str, Dimension],
    *,
    framework: str = "pytorch",
    description: str = "a packaged model",
) -> Path:
    """`module` saved by dimtensor's ``DimModelPackage(model, card).save(folder)``."""
    info = ModelInfo(
        name="packaged",
        description=description,
        input_dims=dict(inputs),
        output_dims=dict(outputs),
    )
    DimModelPackage(module, ModelCard(info=info), framework=framework).save(folder)
    return folder


def files_under(root: Path) -> list[str]:
    """Every path under `root`, relative, hidden ones included (temporary folders)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
