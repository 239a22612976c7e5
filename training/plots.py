"""The PNG a run leaves beside its checkpoints: loss terms over steps, then the task's own
panels (a PINN's learned solution against the analytic one, with units on the axes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display in a pod

import matplotlib.pyplot as plt
import numpy as np

from training.task import TrainingTask

__all__ = ["PLOT", "plot_run"]

PLOT = "training.png"


def plot_run(path: Path, metrics: list[dict[str, Any]], task: TrainingTask) -> Path:
    """Write the run's figure to `path`; returns it."""
    panels = task.panels()
    count = 1 + len(panels)
    fig, axes = plt.subplots(1, count, figsize=(6 * count, 4), squeeze=False)
    _losses(axes[0][0], metrics)
    for ax, panel in zip(axes[0][1:], panels, strict=True):
        panel(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _losses(ax: Any, metrics: list[dict[str, Any]]) -> None:
    steps = [m["step"] for m in metrics]
    names = sorted({k for m in metrics for k in m["terms"]})
    for name in names:
        ax.semilogy(steps, [m["terms"].get(name, np.nan) for m in metrics], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss term (dimensionless)")
    ax.set_title("loss")
    if names:
        ax.legend()
