"""A spring-mass oscillator: its energy and period from mass, stiffness and amplitude.

The ideal answer is a power law, ``E = k A² / 2`` and ``T = 2π √(m / k)``, so the network works
on logarithms of the inputs, where a power law is a linear map: one ``DimLinear`` learns the
exponents and prefactors, and a small ``DimLinear``-tanh-``DimLinear`` branch, zero at the
start, learns what a real spring adds. The logarithms are of numbers in the manifest's units,
which makes them dimensionless: the layers check exactly that. Which physical quantity each
column must be is :meth:`SpringMassParams.dimension_problems`'s job, when the server loads a
model: a manifest that feeds a length where the stiffness goes is refused there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from dimtensor import Dimension
from dimtensor.torch import DimLinear, DimTensor
from pydantic import Field
from torch import nn

from service.models.architectures import ArchitectureParams

__all__ = ["INPUTS", "OUTPUTS", "SpringMassNet", "SpringMassParams"]

MASS = Dimension(mass=1)
STIFFNESS = Dimension(mass=1, time=-2)  # N/m
LENGTH = Dimension(length=1)
ENERGY = Dimension(mass=1, length=2, time=-2)
TIME = Dimension(time=1)

INPUTS: dict[str, Dimension] = {"mass": MASS, "stiffness": STIFFNESS, "amplitude": LENGTH}
"""The input columns, in the order the network reads them, and the dimension of each."""
OUTPUTS: dict[str, Dimension] = {"energy": ENERGY, "period": TIME}
"""The output columns, in the order the network writes them, and the dimension of each."""


class SpringMassNet(nn.Module):
    """``(rows, 3)`` positive inputs in the manifest's units -> ``(rows, 2)`` outputs in its
    units: ``exp(power(log x) + correction(log x))``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        n_in, n_out = len(INPUTS), len(OUTPUTS)
        self.power = DimLinear(n_in, n_out)
        self.hidden = DimLinear(n_in, hidden)
        self.correction = DimLinear(hidden, n_out)
        # The correction starts at zero: training begins from the pure power law.
        nn.init.zeros_(self.correction.linear.weight)
        nn.init.zeros_(self.correction.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logs = DimTensor(torch.log(x))  # dimensionless: what every layer here checks
        power = self.power(logs).data
        correction = self.correction(torch.tanh(self.hidden(logs).data)).data
        return torch.exp(power + correction)


class SpringMassParams(ArchitectureParams):
    """Energy and period of a spring-mass oscillator from its mass, stiffness and amplitude."""

    hidden: int = Field(8, ge=1, le=256, description="Width of the correction branch.")

    def widths(self) -> tuple[int, int]:
        return len(INPUTS), len(OUTPUTS)

    def build(self) -> nn.Module:
        return SpringMassNet(self.hidden)

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        problems = [
            f"input column {i} ({label}) must have dimension {want}, received {got}"
            for i, ((label, want), got) in enumerate(zip(INPUTS.items(), inputs, strict=True))
            if got != want
        ]
        problems += [
            f"output column {i} ({label}) must have dimension {want}, received {got}"
            for i, ((label, want), got) in enumerate(zip(OUTPUTS.items(), outputs, strict=True))
            if got != want
        ]
        return problems
