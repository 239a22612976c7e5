"""A PINN problem as a training task: where the equation is sampled, its residual, and what the
export and the figure say about it (``training.task.TrainingTask``, from the problem).

Adam steps draw uniform points in the nondimensional domain (``[0, 1]`` per coordinate), the
time coordinate limited to a window that grows from 5 % to the whole domain over the first
60 % of the steps (a curriculum: an oscillation over several periods is learned from its
start, as causality has it; without it Adam settles on a damped non-solution, measured in
docs/training.md). The L-BFGS phase uses a fixed grid over the whole domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from training.config import PinnJob
from training.problems import Problem, problem_for
from training.task import Panel, Signature

__all__ = ["PinnTask"]

WINDOW_START = 0.05
WINDOW_GROWTH = 0.6  # fraction of the Adam steps after which the window is the whole domain


class PinnTask:
    """The training task of one checked problem."""

    def __init__(self, problem: Problem, config: PinnJob) -> None:
        self.problem = problem
        self.module = problem.module
        self.config = config

    @classmethod
    def for_config(cls, config: PinnJob) -> PinnTask:
        """The task of the problem `config` names, checked (a ``ConfigError`` before any
        training)."""
        return cls(problem_for(config), config)

    def batch(self, step: int, size: int, generator: torch.Generator) -> torch.Tensor:
        points = torch.rand(size, self.problem.dimensions(), generator=generator)
        window = min(1.0, WINDOW_START + step / (WINDOW_GROWTH * max(self.config.steps, 1)))
        points[:, self.problem.time_axis] *= window
        return points

    def grid(self) -> torch.Tensor:
        dims = self.problem.dimensions()
        per_axis = max(2, round(self.config.grid ** (1.0 / dims)))
        axis = torch.linspace(0.0, 1.0, per_axis)
        mesh = torch.meshgrid(*([axis] * dims), indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=1)

    def loss_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.problem.residual(batch)

    @property
    def architecture(self) -> dict[str, Any]:
        return self.problem.architecture

    def describe(self) -> str:
        return f"pinn {self.config.problem}"

    def signature(self) -> Signature:
        return self.problem.signature

    def trained_domain(self) -> dict[str, dict[str, Any]]:
        """Where the collocation points were sampled, in the config's units."""
        return self.problem.domain()

    def describe_domain(self) -> str:
        return self.problem.describe_domain()

    def quality(self) -> dict[str, float]:
        """The relative L2 error against the analytic solution."""
        return {"relative_l2_error": self.problem.relative_error()}

    def panels(self) -> Sequence[Panel]:
        return (self.problem.plot,)
