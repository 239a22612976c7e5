"""Train the ``spring_mass`` architecture on synthetic springs for a few seconds, then pack it
into a model repository as the next version of a model, and print that version's folder.

    python train_and_pack.py --repository models [--name spring]

The springs are drawn in the units a lab would write them down in (grams, N/m, centimetres),
their energies and periods computed with units by dimtensor, and everything is handed to the
network in the units of the model's signature (``SIGNATURE``): the server converts a client's
units to those before every forward pass, as the network was trained.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from dimtensor import DimArray, Unit, units
from dimtensor_example_models.spring import SpringMassParams
from torch import nn

from service.models.pack import pack

ARCHITECTURE = "spring_mass"
PARAMS = {"hidden": 8}
# The model's signature: the units the network reads and writes (the manifest's).
INPUT_UNITS = {"mass": units.kg, "stiffness": units.N / units.m, "amplitude": units.m}
OUTPUT_UNITS = {"energy": units.J, "period": units.s}
# Where the springs are drawn (log-uniformly), in the units a lab writes them down in: the
# model's validity domain too (the server flags a request outside it).
TRAINED = {
    "mass": (100.0, 10_000.0, units.g),
    "stiffness": (10.0, 1_000.0, units.N / units.m),
    "amplitude": (1.0, 50.0, units.cm),
}
ROWS = 2048
SEED = 0


def springs(rows: int, rng: np.random.Generator) -> dict[str, DimArray]:
    """Random springs, each quantity a DimArray in its lab unit."""

    return {
        name: DimArray(np.exp(rng.uniform(math.log(low), math.log(high), rows)), unit)
        for name, (low, high, unit) in TRAINED.items()
    }


def signature_inputs() -> dict[str, dict[str, object]]:
    """Each input's unit and its domain, the range it was trained on."""
    return {
        name: {
            "unit": unit.symbol,
            "domain": {
                "lower": TRAINED[name][0],
                "upper": TRAINED[name][1],
                "unit": TRAINED[name][2].symbol,
                "description": "the range of the training data",
            },
        }
        for name, unit in INPUT_UNITS.items()
    }


def ideal(spring: dict[str, DimArray]) -> dict[str, DimArray]:
    """``E = k A² / 2`` and ``T = 2π √(m / k)``, with units (DimArrays on the left: a numpy
    value on the left of a DimArray operation crashes dimtensor 5.2)."""
    m, k, a = spring["mass"], spring["stiffness"], spring["amplitude"]
    return {"energy": k * a**2 * 0.5, "period": (m / k) ** 0.5 * (2 * math.pi)}


def columns(values: dict[str, DimArray], signature: dict[str, Unit]) -> torch.Tensor:
    """``(rows, len(signature))`` float32, each column converted to the signature's unit."""
    converted = [values[name].to(unit).data for name, unit in signature.items()]
    return torch.tensor(np.stack(converted, axis=1), dtype=torch.float32)


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Adam, then L-BFGS, on the squared error of the logarithms (relative error, for values
    spanning decades); the final loss."""

    def loss() -> torch.Tensor:
        return ((torch.log(net(x)) - torch.log(y)) ** 2).mean()

    adam = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(200):
        adam.zero_grad()
        loss().backward()
        adam.step()
    lbfgs = torch.optim.LBFGS(
        net.parameters(), max_iter=200, line_search_fn="strong_wolfe", tolerance_change=1e-15
    )

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        value = loss()
        value.backward()
        return value

    lbfgs.step(closure)
    with torch.no_grad():
        return float(loss())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, default=Path("models"))
    parser.add_argument("--name", default="spring")
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    data = springs(ROWS, np.random.default_rng(SEED))
    x, y = columns(data, INPUT_UNITS), columns(ideal(data), OUTPUT_UNITS)
    net = SpringMassParams(**PARAMS).build()
    final = train(net, x, y)
    print(f"trained {ARCHITECTURE}: mean squared log error {final:.2e}", flush=True)

    example = springs(2, np.random.default_rng(SEED + 1))  # in lab units: pack converts them
    folder = pack(
        args.repository,
        args.name,
        architecture=ARCHITECTURE,
        params=PARAMS,
        weights=net,
        inputs=signature_inputs(),
        outputs={name: unit.symbol for name, unit in OUTPUT_UNITS.items()},
        description="Energy and period of an ideal spring-mass oscillator",
        example=example,
    )
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
