"""The PNG a run leaves beside its checkpoints: loss terms over steps and, for a PINN, the
learned solution against the analytic one, with units on the axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display in a pod

import matplotlib.pyplot as plt
import numpy as np
import torch

from service.tensors import FloatArray
from service.units import parse_unit
from training.problems import DampedOscillator, HeatRod, Problem

__all__ = ["PLOT", "plot_run"]

PLOT = "training.png"


def plot_run(path: Path, metrics: list[dict[str, Any]], problem: Problem | None) -> Path:
    """Write the run's figure to `path`; returns it."""
    panels = 2 if problem is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    _losses(axes[0][0], metrics)
    if isinstance(problem, DampedOscillator):
        _oscillator(axes[0][1], problem)
    elif isinstance(problem, HeatRod):
        _heat(axes[0][1], problem)
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


def _in(unit_text: str, si: FloatArray) -> FloatArray:
    """SI values in the config's unit, for an axis labelled in it."""
    return np.asarray(parse_unit(unit_text).from_si(si))


def _oscillator(ax: Any, problem: DampedOscillator) -> None:
    t = problem.evaluation_points()
    with torch.no_grad():
        learned = problem.module(torch.from_numpy(t.astype(np.float32))).numpy()[:, 0]
    tu, xu = problem.units["t"], problem.units["x"]
    ax.plot(_in(tu, t[:, 0]), _in(xu, problem.exact(t)), label="analytic", lw=3, alpha=0.5)
    ax.plot(_in(tu, t[:, 0]), _in(xu, learned.astype(np.float64)), "--", label="PINN")
    ax.set_xlabel(f"t [{tu}]")
    ax.set_ylabel(f"x [{xu}]")
    ax.set_title(f"damped oscillator (relative L2 error {problem.relative_error():.1e})")
    ax.legend()


def _heat(ax: Any, problem: HeatRod) -> None:
    xs = np.linspace(0, problem.length, 101)
    xu, tu = problem.units["x"], problem.units["t"]
    for fraction in (0.0, 0.25, 0.5, 1.0):
        t = fraction * problem.t_end
        points = np.stack([xs, np.full_like(xs, t)], axis=1)
        with torch.no_grad():
            learned = problem.module(torch.from_numpy(points.astype(np.float32))).numpy()[:, 0]
        label = f"t = {float(_in(tu, np.array(t))):g} {tu}"
        line = ax.plot(_in(xu, xs), problem.exact(points), lw=3, alpha=0.4, label=label)
        ax.plot(_in(xu, xs), learned, "--", color=line[0].get_color())
    ax.set_xlabel(f"x [{xu}]")
    ax.set_ylabel("u [K]")
    ax.set_title(
        f"heat equation (analytic solid, PINN dashed; error {problem.relative_error():.1e})"
    )
    ax.legend()
