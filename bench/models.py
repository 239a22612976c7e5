"""The benchmark's models, written into a temporary repository in the server's own format.

Two plain MLPs (``mlp`` architecture, safetensors weights, seeded so every run serves the
same numbers):

- ``mlp``: 4 -> 64 -> 64 -> 2, the model of the issue; four scalar inputs with their own
  units, so a request exercises unit parsing and conversion, not one trivial unit.
- ``mlp1ms``: the same signature with seven hidden layers of 1024, a forward of about a
  millisecond for one row on one core, for the micro-batching scenario.
- ``mlp_domain``: ``mlp`` (same weights) with a validity domain on every input, bounds in
  units of their own, so the ``native-domain`` scenario pays for the check on each request.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from service.models import ArchitectureSpec, resolve_architecture

__all__ = ["MODELS", "SIGNATURE", "write_repository"]

SIGNATURE: dict[str, Any] = {
    "inputs": [
        {"name": "length", "unit": "m"},
        {"name": "speed", "unit": "m/s"},
        {"name": "mass", "unit": "kg"},
        {"name": "duration", "unit": "s"},
    ],
    "outputs": [
        {"name": "energy", "unit": "J"},
        {"name": "power", "unit": "W"},
    ],
}
MODELS: dict[str, list[int]] = {"mlp": [64, 64], "mlp1ms": [1024] * 7, "mlp_domain": [64, 64]}
# Every request of the benchmark falls inside (1.5 m, 72 km/h, 500 g, 2 s): the check runs in
# full and flags nothing, the common case it must not slow down.
DOMAINS: dict[str, dict[str, Any]] = {
    "length": {"lower": {"value": 0, "open": True}, "upper": 10, "unit": "km"},
    "speed": {"lower": 0, "upper": 300, "unit": "km/h"},
    "mass": {"lower": {"value": 0, "open": True}, "upper": 1000, "unit": "kg"},
    "duration": {"lower": 0, "upper": 1, "unit": "h"},
}


def manifest(name: str, hidden: list[int]) -> dict[str, Any]:
    """The model.yaml of one benchmark model."""
    signature = SIGNATURE
    if name == "mlp_domain":
        inputs = [{**i, "domain": DOMAINS[i["name"]]} for i in SIGNATURE["inputs"]]
        signature = {**SIGNATURE, "inputs": inputs}
    return {
        "name": name,
        "version": "1",
        "description": f"benchmark MLP 4 -> {' -> '.join(map(str, hidden))} -> 2",
        **signature,
        "architecture": {
            "name": "mlp",
            "params": {"in_features": 4, "out_features": 2, "hidden": hidden},
        },
        "weights": {"file": "weights.safetensors", "format": "safetensors"},
    }


def write_repository(root: Path, names: Iterable[str] = MODELS) -> Path:
    """Write the benchmark models `names` (default: all) under `root`; returns `root`."""
    for name in names:
        doc = manifest(name, MODELS[name])
        folder = root / name / "1"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        torch.manual_seed(0)
        module = resolve_architecture(ArchitectureSpec.model_validate(doc["architecture"])).build()
        tensors = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
        save_file(tensors, str(folder / "weights.safetensors"))
    return root
