"""The torch modules behind the registered architectures.

Every module maps one float32 tensor ``(rows, n_in)`` to ``(rows, n_out)``. Anything a module needs
at inference (normalisation constants, Fourier feature matrices) is a registered buffer, so it
travels in the weights file with the learned parameters instead of hiding in code or YAML.
Exponents and constants given in the manifest are non-persistent buffers: they come from the
manifest, never from a weights file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["MLP", "Activation", "Affine", "FourierMLP", "PiGroupMLP", "Projectile"]

Activation = Literal["tanh", "relu", "gelu", "silu"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


class Affine(nn.Module):
    """Per-feature ``(x - shift) / scale``; buffers, so training writes them into the weights."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.shift


def _stack(n_in: int, hidden: Sequence[int], n_out: int, activation: Activation) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _through(stack: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``stack(x)`` without ``nn.Module.__call__`` for every layer: the hook machinery
    costs about 1.5 us a layer, as much as a 64-wide layer's arithmetic for one row.
    Nothing here registers hooks on the inner layers; the model itself is still called."""
    for layer in stack:
        x = layer.forward(x)
    return x


class MLP(nn.Module):
    """A plain multilayer perceptron with optional input/output normalisation."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: Sequence[int],
        activation: Activation,
        normalize: bool,
    ) -> None:
        super().__init__()
        self.input_norm = Affine(n_in) if normalize else None
        self.net = _stack(n_in, hidden, n_out, activation)
        self.output_norm = Affine(n_out) if normalize else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm is not None:
            x = self.input_norm(x)
        y = _through(self.net, x)
        if self.output_norm is not None:
            y = self.output_norm.inverse(y)
        return y


class FourierMLP(nn.Module):
    """Random Fourier features ``[sin 2πxB, cos 2πxB]`` then an MLP (Tancik et al. 2020).

    ``B`` is drawn once from N(0, scale²) with a seeded generator; it is a buffer when fixed and a
    parameter when learned, and in both cases it is part of the state dict, so a served model
    uses exactly the features it was trained with.
    """

    features: torch.Tensor

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_features: int,
        scale: float,
        learned: bool,
        hidden: Sequence[int],
        activation: Activation,
        normalize: bool,
        seed: int,
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        matrix = torch.randn(n_in, n_features, generator=generator) * scale
        if learned:
            self.features = nn.Parameter(matrix)
        else:
            self.register_buffer("features", matrix)
        self.input_norm = Affine(n_in) if normalize else None
        self.body = MLP(2 * n_features, n_out, hidden, activation, normalize=False)
        self.output_norm = Affine(n_out) if normalize else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm is not None:
            x = self.input_norm(x)
        z = (2.0 * math.pi) * (x @ self.features)
        y = self.body.forward(torch.cat([torch.sin(z), torch.cos(z)], dim=1))
        if self.output_norm is not None:
            y = self.output_norm.inverse(y)
        return y


def _power_product(x: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    """``prod_i x[:, i] ** e[j, i]`` for each row j of ``exponents``; zero exponents are skipped
    so that a column the group does not use cannot turn the result into NaN."""
    columns = []
    for row in exponents.tolist():
        column = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        for i, e in enumerate(row):
            if e == 1.0:
                column = column * x[:, i]
            elif e != 0.0:
                column = column * torch.pow(x[:, i], e)
        columns.append(column)
    return torch.stack(columns, dim=1)


class PiGroupMLP(nn.Module):
    """A Buckingham-Pi shaped surrogate: ``y_j = c_j · prod_i x_i^s_ji · f_j(π_1..π_k)``.

    The MLP ``f`` sees only dimensionless groups ``π_k = prod_i x_i^g_ki`` and predicts a
    dimensionless factor; the dimensional scale is analytic. The network therefore cannot learn
    a unit-inconsistent relation, and it extrapolates exactly in the dimensional directions.
    """

    group_exponents: torch.Tensor
    scale_exponents: torch.Tensor
    scale_constants: torch.Tensor

    def __init__(
        self,
        group_exponents: Sequence[Sequence[float]],
        scale_exponents: Sequence[Sequence[float]],
        scale_constants: Sequence[float],
        hidden: Sequence[int],
        activation: Activation,
        normalize: bool,
    ) -> None:
        super().__init__()
        self.register_buffer("group_exponents", torch.tensor(group_exponents), persistent=False)
        self.register_buffer("scale_exponents", torch.tensor(scale_exponents), persistent=False)
        self.register_buffer("scale_constants", torch.tensor(scale_constants), persistent=False)
        self.mlp = MLP(len(group_exponents), len(scale_exponents), hidden, activation, normalize)

    def groups(self, x: torch.Tensor) -> torch.Tensor:
        """The dimensionless inputs the MLP sees (training uses this too)."""
        return _power_product(x, self.group_exponents)

    def scales(self, x: torch.Tensor) -> torch.Tensor:
        """The analytic dimensional factor of each output."""
        return self.scale_constants * _power_product(x, self.scale_exponents)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.mlp.forward(self.groups(x))
        return self.scales(x) * factor


class Projectile(nn.Module):
    """Drag-free projectile from flat ground: (speed, angle, g) -> (range, apex height, time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        speed, angle, g = x.unbind(dim=1)
        vertical = speed * torch.sin(angle)
        flight_time = 2.0 * vertical / g
        horizontal_range = speed * torch.cos(angle) * flight_time
        apex_height = vertical * vertical / (2.0 * g)
        return torch.stack([horizontal_range, apex_height, flight_time], dim=1)


class InitialValueNet(nn.Module):
    """A trained initial-value problem ``y(t)``, its initial conditions built in (PINN ansatz):
    ``y = y_scale · (y0 + v0·s + s²·F(s))`` with ``s = t / t_scale`` and ``F`` a Fourier-feature
    MLP. ``y(0)`` and ``y'(0)`` hold by construction; training only fits the equation. The
    scales are the problem's own (``training.problems``), so ``F`` works on numbers near 1.
    """

    def __init__(
        self, t_scale: float, y_scale: float, y0: float, v0: float, core: FourierMLP
    ) -> None:
        super().__init__()
        self.t_scale, self.y_scale, self.y0, self.v0 = t_scale, y_scale, y0, v0
        self.core = core

    def nondimensional(self, s: torch.Tensor) -> torch.Tensor:
        """``y / y_scale`` at ``s = t / t_scale`` (what training differentiates)."""
        y: torch.Tensor = self.y0 + self.v0 * s + s * s * self.core(s)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.y_scale * self.nondimensional(x / self.t_scale)


class HeatRodNet(nn.Module):
    """A trained 1-D heat equation ``u(x, t)`` on a rod with fixed end temperatures and a
    sinusoidal initial bump, its boundary and initial conditions built in (PINN ansatz):
    ``u = u_left + (u_right - u_left)·ξ + bump·sin(πξ) + u_scale·ξ(1-ξ)·τ·F(ξ, τ)`` with
    ``ξ = x / length`` and ``τ = t / t_scale``.
    """

    def __init__(
        self,
        length: float,
        t_scale: float,
        u_scale: float,
        u_left: float,
        u_right: float,
        bump: float,
        core: FourierMLP,
    ) -> None:
        super().__init__()
        self.length, self.t_scale, self.u_scale = length, t_scale, u_scale
        self.u_left, self.u_right, self.bump = u_left, u_right, bump
        self.core = core

    def nondimensional(self, xi: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """``(u - u_left) / u_scale`` at ``(ξ, τ)`` (what training differentiates)."""
        initial = ((self.u_right - self.u_left) * xi + self.bump * torch.sin(math.pi * xi)) / (
            self.u_scale
        )
        u: torch.Tensor = initial + xi * (1.0 - xi) * tau * self.core(torch.cat([xi, tau], dim=1))
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xi = x[:, :1] / self.length
        tau = x[:, 1:2] / self.t_scale
        return self.u_left + self.u_scale * self.nondimensional(xi, tau)
