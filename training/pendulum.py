"""A Buckingham-Pi surrogate for the large-amplitude pendulum period.

Exact answer: ``T = 2π sqrt(L/g) / AGM(1, cos(θ0/2))`` (the complete elliptic integral of the
first kind through the arithmetic-geometric mean). Dimensional analysis says
``T = sqrt(L/g) · Φ(θ0)``, so the network only learns the dimensionless factor
``Φ(θ0)/2π = 1/AGM(1, cos(θ0/2))`` of the single group θ0² (even in θ0, as the physics is);
the ``pi_group_mlp`` architecture multiplies ``2π sqrt(L/g)`` back in analytically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from service.models.architectures import PiGroupMLPParams
from service.models.nets import PiGroupMLP

__all__ = [
    "AMPLITUDE_MAX",
    "TOLERANCE",
    "TrainReport",
    "exact_period",
    "manifest_dict",
    "pendulum_params",
    "period_factor",
    "train_pendulum",
]

FloatArray = npt.NDArray[np.float64]

AMPLITUDE_MAX = 2.8  # rad (about 160°); the factor diverges at π
TOLERANCE = 1e-3  # documented max relative error of the period over the domain
LENGTH_RANGE = (1e-3, 1e3)  # m: the scale is analytic, so any positive value works in float32
G_RANGE = (0.1, 100.0)  # m/s^2


def _agm(a: FloatArray, b: FloatArray) -> FloatArray:
    for _ in range(64):
        a, b = (a + b) / 2.0, np.sqrt(a * b)
        if np.all(np.abs(a - b) <= 1e-15 * np.abs(a)):
            break
    return a


def period_factor(amplitude: npt.ArrayLike) -> FloatArray:
    """``T / (2π sqrt(L/g))`` for amplitude θ0 in rad (1 at small amplitude)."""
    theta = np.abs(np.asarray(amplitude, dtype=np.float64))
    return 1.0 / _agm(np.ones_like(theta), np.cos(theta / 2.0))


def exact_period(length: npt.ArrayLike, amplitude: npt.ArrayLike, g: npt.ArrayLike) -> FloatArray:
    """The exact period [s] for length [m], amplitude [rad] and g [m/s^2], in float64."""
    scale = 2.0 * math.pi * np.sqrt(np.asarray(length, np.float64) / np.asarray(g, np.float64))
    return np.asarray(scale * period_factor(amplitude), dtype=np.float64)


def pendulum_params(hidden: tuple[int, ...] = (32, 32)) -> PiGroupMLPParams:
    """Inputs (length, amplitude, g); group θ0²; scale 2π L^½ g^-½."""
    return PiGroupMLPParams(
        group_exponents=[[0.0, 2.0, 0.0]],
        scale_exponents=[[0.5, 0.0, -0.5]],
        scale_constants=[2.0 * math.pi],
        hidden=list(hidden),
        activation="tanh",
        normalize=True,
    )


@dataclass(frozen=True)
class TrainReport:
    steps: int
    lbfgs_steps: int
    seed: int
    max_relative_error: float  # of the full float32 module over the check grid
    loss: float


def _relative_error(model: PiGroupMLP, theta: FloatArray) -> float:
    rng = np.random.default_rng(12345)
    length = rng.uniform(*LENGTH_RANGE, size=theta.shape)
    g = rng.uniform(*G_RANGE, size=theta.shape)
    x = torch.from_numpy(np.stack([length, theta, g], axis=1).astype(np.float32))
    with torch.inference_mode():
        got = model(x)[:, 0].numpy().astype(np.float64)
    want = exact_period(length.astype(np.float32), theta.astype(np.float32), g.astype(np.float32))
    return float(np.max(np.abs(got - want) / want))


def train_pendulum(
    steps: int = 1000, lbfgs_steps: int = 1000, seed: int = 0
) -> tuple[PiGroupMLP, TrainReport]:
    """Fit the factor on a dense grid: Adam to get close, then full-batch L-BFGS to converge.

    Deterministic on CPU for a given seed and thread count (the CLI pins one thread).
    """
    torch.manual_seed(seed)
    params = pendulum_params()
    model = params.build()
    if not isinstance(model, PiGroupMLP):
        raise TypeError(f"pi_group_mlp built {type(model).__name__}, expected PiGroupMLP")
    # Chebyshev-spaced amplitudes crowd the ends, where the factor bends most.
    k = np.arange(2049, dtype=np.float64)
    theta = AMPLITUDE_MAX * (1.0 - np.cos(np.pi * k / 2048)) / 2.0
    # Fit in float64 so L-BFGS is not stopped by float32 round-off; serve in float32.
    groups = torch.from_numpy((theta**2)[:, None])
    target = torch.from_numpy(period_factor(theta)[:, None])
    mlp = model.mlp.double()
    if mlp.input_norm is None or mlp.output_norm is None:
        raise TypeError("the pendulum surrogate is built with normalize=True")
    with torch.no_grad():
        mlp.input_norm.shift.fill_(AMPLITUDE_MAX**2 / 2.0)
        mlp.input_norm.scale.fill_(AMPLITUDE_MAX**2 / 2.0)
        mlp.output_norm.shift.fill_(float(target.mean()))
        mlp.output_norm.scale.fill_(float(target.std()))

    def loss_fn() -> torch.Tensor:
        return torch.mean(((mlp(groups) - target) / target) ** 2)

    # Adam with the learning rate decaying 1e-2 -> 1e-5 gets close; L-BFGS then converges.
    adam = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    decay = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=1e-3 ** (1.0 / max(steps, 1)))
    for _ in range(steps):
        adam.zero_grad()
        loss = loss_fn()
        loss.backward()  # type: ignore[no-untyped-call]
        adam.step()
        decay.step()
    lbfgs = torch.optim.LBFGS(
        mlp.parameters(),
        lr=1.0,
        max_iter=lbfgs_steps,
        tolerance_grad=1e-12,
        tolerance_change=1e-16,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> float:
        lbfgs.zero_grad()
        value = loss_fn()
        value.backward()  # type: ignore[no-untyped-call]
        return float(value.detach())

    lbfgs.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        final = float(loss_fn())
    model.float().eval()
    check = np.linspace(-AMPLITUDE_MAX, AMPLITUDE_MAX, 20001)
    return model, TrainReport(steps, lbfgs_steps, seed, _relative_error(model, check), final)


def manifest_dict(weights_file: str, sha256: str, report: TrainReport) -> dict[str, Any]:
    """The ``model.yaml`` content for the trained pendulum surrogate."""
    params = pendulum_params()
    return {
        "name": "pendulum",
        "version": "1",
        "description": (
            "Period of a simple pendulum at large amplitude (no small-angle approximation), "
            "a Buckingham-Pi surrogate: an MLP of the dimensionless group amplitude² predicts "
            "T / (2π sqrt(L/g)); the architecture multiplies 2π sqrt(L/g) back in. "
            f"Domain: |amplitude| <= {AMPLITUDE_MAX} rad, length > 0, g > 0 (checked for "
            f"length in [{LENGTH_RANGE[0]:g}, {LENGTH_RANGE[1]:g}] m, g in "
            f"[{G_RANGE[0]:g}, {G_RANGE[1]:g}] m/s^2). Max relative error < {TOLERANCE:g} "
            f"against T = 2π sqrt(L/g) / AGM(1, cos(amplitude/2)) over that domain "
            f"(measured at training: {report.max_relative_error:.1e}). Trained by "
            f"`python -m training.default_models` (seed {report.seed}, {report.steps} Adam "
            f"steps, {report.lbfgs_steps} L-BFGS iterations)."
        ),
        "inputs": [
            {"name": "length", "unit": "m", "description": "pendulum length"},
            {"name": "amplitude", "unit": "rad", "description": "release angle from vertical"},
            {"name": "g", "unit": "m/s^2", "description": "gravitational acceleration"},
        ],
        "outputs": [{"name": "period", "unit": "s", "description": "full oscillation period"}],
        "architecture": {"name": "pi_group_mlp", "params": params.model_dump(mode="json")},
        "weights": {"file": weights_file, "format": "safetensors", "sha256": sha256},
    }
