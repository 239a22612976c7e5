"""The baseline: what a hand-written FastAPI endpoint for the same model looks like.

No units, no metrics, no middleware: a pydantic body of rows, the same weights loaded
into the same layers (``nn.Sequential`` of Linear/Tanh, the ``net`` of the server's
``MLP``), one torch thread, inference mode. Run it with
``BENCH_MODEL=<repo>/mlp/1 uvicorn bench.baseline_app:app --no-access-log``.
It deliberately imports nothing from ``service`` so its start and memory are bare too.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import torch
import yaml
from fastapi import FastAPI
from pydantic import BaseModel
from safetensors.torch import load_file
from torch import nn

torch.set_num_threads(1)


def _load(folder: Path) -> nn.Module:
    doc = yaml.safe_load((folder / "model.yaml").read_text())
    params = doc["architecture"]["params"]
    widths = [params["in_features"], *params["hidden"], params["out_features"]]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    net = nn.Sequential(*layers)
    state = load_file(str(folder / doc["weights"]["file"]))
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
    return net.eval()


model = _load(Path(os.environ.get("BENCH_MODEL", ".")))
app = FastAPI()


class Body(BaseModel):
    inputs: list[list[float]]


@app.post("/predict")
async def predict(body: Body) -> dict[str, list[list[float]]]:
    with torch.inference_mode():
        out = model(torch.tensor(body.inputs, dtype=torch.float32))
    return {"outputs": out.tolist()}


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
