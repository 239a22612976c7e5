"""PINN problems given with physical parameters in units: the damped harmonic oscillator and
the 1-D heat equation.

Each problem, before any training:

- reads its parameters with the project's safe unit grammar and converts them to SI;
- builds every residual and boundary/initial term's unit with dimtensor's own ``Unit``
  algebra (``m·x/t²``, ``c·x/t``, ``k·x``, ...) and refuses a config whose terms do not share
  one dimension, naming each term, its dimension and the parameters it came from (the check
  PINN libraries leave out: DeepXDE and PhysicsNeMo add loss terms of any dimension);
- nondimensionalises by scales taken from the parameters (time by ``t_end``, displacement by
  the initial amplitude, temperature by the largest temperature difference), so the network
  works on numbers near 1 and the equation's coefficients are dimensionless numbers.

The trained module is the exported one: ``InitialValueNet``/``HeatRodNet`` (service
architectures ``initial_value_pinn``/``heat_rod_pinn``) carry the scales and build the initial
and boundary conditions in, so training fits the equation alone. After training, each problem
measures that module against its exact solution and draws the two on one panel of the run's
figure (``Problem.plot``; matplotlib itself stays in ``training.plots``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from dimtensor.core.units import Unit

from jobkit.errors import ConfigError
from service.errors import ServiceError
from service.models.architectures import HeatRodParams, InitialValueParams
from service.models.nets import HeatRodNet, InitialValueNet
from service.tensors import FloatArray
from service.units import ParsedUnit, dimension_text, parse_unit
from training.config import Network, PinnJob, Quantity
from training.task import Port, Signature

__all__ = ["PROBLEMS", "DampedOscillator", "HeatRod", "Problem", "problem_for"]


@dataclass(frozen=True)
class Param:
    """A parameter as given: its value in SI, its unit, and dimtensor's ``Unit`` of it."""

    name: str
    si: float
    unit: ParsedUnit
    text: str
    value: float = 0.0  # as given, in `text`

    @property
    def dimtensor_unit(self) -> Unit:
        return Unit(self.text, self.unit.dimension, self.unit.scale)


def _read(
    problem: str, given: Mapping[str, Quantity], needed: Mapping[str, str]
) -> dict[str, Param]:
    unknown = [n for n in given if n not in needed]
    missing = [n for n in needed if n not in given]
    if unknown or missing:
        raise ConfigError(
            f"problem {problem}: expected parameters {list(needed)}, "
            f"missing {missing}, unknown {unknown}"
        )
    params = {}
    for name in needed:
        q = given[name]
        try:
            unit = parse_unit(q.unit)
        except ServiceError as exc:
            raise ConfigError(f"parameters.{name}: {exc.message}") from None
        params[name] = Param(name, float(unit.to_si(q.value)), unit, q.unit, q.value)
    return params


def _require(problem: str, param: Param, dimension: str, role: str) -> None:
    if param.unit.dimension_name != dimension:
        raise ConfigError(
            f"problem {problem}: {param.name} is {role} and must have dimension {dimension}; "
            f"received '{param.text}' of dimension {param.unit.dimension_name}"
        )


def check_terms(problem: str, kind: str, terms: Mapping[str, tuple[Unit, str]]) -> None:
    """Refuse terms of more than one dimension, naming each with its dimension and origin."""
    dims = {name: dimension_text(unit.dimension) for name, (unit, _) in terms.items()}
    if len(set(dims.values())) > 1:
        listed = "; ".join(
            f"{name} has dimension {dims[name]} ({origin})" for name, (_, origin) in terms.items()
        )
        raise ConfigError(
            f"problem {problem}: the {kind} terms must share one dimension, received: {listed}"
        )


class Problem:
    """A PINN problem: parameters checked, scales chosen, residual and exact solution."""

    name: str
    module: torch.nn.Module
    signature: Signature
    architecture: dict[str, Any]
    time_axis: int  # which point coordinate is time (the curriculum grows it)

    def residual(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean squared residual terms at nondimensional points."""
        raise NotImplementedError

    def dimensions(self) -> int:
        raise NotImplementedError

    def exact(self, inputs: FloatArray) -> FloatArray:
        """The analytic solution at SI inputs ``(rows, n_in)``: ``(rows,)``."""
        raise NotImplementedError

    def evaluation_points(self) -> FloatArray:
        """SI inputs where the trained model is compared with the exact solution."""
        raise NotImplementedError

    def describe_domain(self) -> str:
        raise NotImplementedError

    def domain(self) -> dict[str, dict[str, Any]]:
        """The exported inputs' validity domains (manifest ``domain`` entries), in the
        config's units: where the collocation points were sampled."""
        raise NotImplementedError

    def plot(self, ax: Any) -> None:
        """The learned solution against the analytic one on `ax`, axes in the config's units."""
        raise NotImplementedError

    def relative_error(self) -> float:
        """Relative L2 error of the trained module against the exact solution."""
        points = self.evaluation_points()
        with torch.no_grad():
            got = self.module(torch.from_numpy(points.astype(np.float32))).numpy()[:, 0]
        want = self.exact(points)
        return float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-300))


def _core(network: Network, n_in: int) -> dict[str, Any]:
    return {
        "hidden": list(network.hidden),
        "activation": network.activation,
        "n_features": network.n_features,
        "feature_scale": network.feature_scale,
        "seed": 0,
    }


def _derivative(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    return grad


class DampedOscillator(Problem):
    """``m x'' + c x' + k x = 0``, ``x(0) = x0``, ``x'(0) = v0``, on ``[0, t_end]``.

    Nondimensional with ``s = t / t_end`` and ``f = x / X`` (``X`` the larger of ``|x0|`` and
    ``|v0|/ω0``, ``ω0 = sqrt(k/m)``), divided by ``k X``: ``a f'' + b f' + f = 0`` with
    ``a = m / (k t_end²)`` and ``b = c / (k t_end)``.
    """

    name = "damped_oscillator"
    time_axis = 0
    NEEDED: ClassVar[dict[str, str]] = {
        "mass": "the mass",
        "damping": "the damping coefficient",
        "stiffness": "the spring constant",
        "x0": "the initial displacement",
        "v0": "the initial velocity",
        "t_end": "the end of the time domain",
    }

    def __init__(self, config: PinnJob) -> None:
        p = _read(self.name, config.parameters, self.NEEDED)
        _require(self.name, p["t_end"], "time", "the time domain (the model's input t)")
        _require(self.name, p["x0"], "length", "the displacement (the model's output x)")
        m, c, k = (p[n].dimtensor_unit for n in ("mass", "damping", "stiffness"))
        x, t, v = p["x0"].dimtensor_unit, p["t_end"].dimtensor_unit, p["v0"].dimtensor_unit
        check_terms(
            self.name,
            "residual",
            {
                "inertia m·x''": (m * x / t**2, f"mass in '{p['mass'].text}'"),
                "damping c·x'": (c * x / t, f"damping in '{p['damping'].text}'"),
                "spring k·x": (k * x, f"stiffness in '{p['stiffness'].text}'"),
            },
        )
        check_terms(
            self.name,
            "initial velocity",
            {
                "x'(0)": (x / t, f"x0 in '{p['x0'].text}' over t_end in '{p['t_end'].text}'"),
                "v0": (v, f"v0 in '{p['v0'].text}'"),
            },
        )
        self.m, self.c, self.k = p["mass"].si, p["damping"].si, p["stiffness"].si
        self.x0, self.v0, self.t_end = p["x0"].si, p["v0"].si, p["t_end"].si
        if min(self.m, self.k, self.t_end) <= 0 or self.c < 0:
            raise ConfigError(
                f"problem {self.name}: expected mass, stiffness, t_end > 0 and damping >= 0, "
                f"received {self.m}, {self.k}, {self.t_end} and {self.c} (SI)"
            )
        omega0 = math.sqrt(self.k / self.m)
        scale = max(abs(self.x0), abs(self.v0) / omega0)
        if scale == 0:
            raise ConfigError(f"problem {self.name}: x0 and v0 are both 0: the solution is 0")
        self.a = self.m / (self.k * self.t_end**2)
        self.b = self.c / (self.k * self.t_end)
        self.architecture = {
            "name": "initial_value_pinn",
            "params": {
                **_core(config.network, 1),
                "t_scale": self.t_end,
                "y_scale": scale,
                "y0": self.x0 / scale,
                "v0": self.v0 * self.t_end / scale,
            },
        }
        net = InitialValueParams.model_validate(self.architecture["params"]).build()
        if not isinstance(net, InitialValueNet):
            raise TypeError(f"initial_value_pinn built {type(net).__name__}")
        self.net: InitialValueNet = net
        self.module = net
        self.signature = Signature(
            (Port("t", "s", "time since release"),), (Port("x", "m", "displacement from rest"),)
        )
        self.units = {"t": p["t_end"].text, "x": p["x0"].text}
        self.params = p

    def dimensions(self) -> int:
        return 1

    def residual(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        s = points.requires_grad_(True)
        f = self.net.nondimensional(s)
        fs = _derivative(f, s)
        fss = _derivative(fs, s)
        return {"equation": torch.mean((self.a * fss + self.b * fs + f) ** 2)}

    def exact(self, inputs: FloatArray) -> FloatArray:
        t = inputs[:, 0]
        m, c, k, x0, v0 = self.m, self.c, self.k, self.x0, self.v0
        gamma = c / (2 * m)
        omega0 = math.sqrt(k / m)
        if gamma < omega0:
            wd = math.sqrt(omega0**2 - gamma**2)
            out = np.exp(-gamma * t) * (
                x0 * np.cos(wd * t) + (v0 + gamma * x0) / wd * np.sin(wd * t)
            )
        elif gamma == omega0:
            out = np.exp(-gamma * t) * (x0 + (v0 + gamma * x0) * t)
        else:
            r = math.sqrt(gamma**2 - omega0**2)
            r1, r2 = -gamma + r, -gamma - r
            a2 = (v0 - r1 * x0) / (r2 - r1)
            out = (x0 - a2) * np.exp(r1 * t) + a2 * np.exp(r2 * t)
        return np.asarray(out, dtype=np.float64)

    def evaluation_points(self) -> FloatArray:
        return np.linspace(0.0, self.t_end, 2001)[:, None]

    def describe_domain(self) -> str:
        p = self.params
        given = ", ".join(f"{n} = {p[n].si:g} {p[n].unit.si_expression}" for n in self.NEEDED)
        return (
            f"Damped harmonic oscillator m x'' + c x' + k x = 0 ({given}); valid for t in "
            f"[0, {self.t_end:g}] s only (a PINN does not extrapolate in time)"
        )

    def domain(self) -> dict[str, dict[str, Any]]:
        return {"t": _sampled(self.params["t_end"])}

    def plot(self, ax: Any) -> None:
        t = self.evaluation_points()
        with torch.no_grad():
            learned = self.module(torch.from_numpy(t.astype(np.float32))).numpy()[:, 0]
        tu, xu = self.units["t"], self.units["x"]
        ax.plot(_in(tu, t[:, 0]), _in(xu, self.exact(t)), label="analytic", lw=3, alpha=0.5)
        ax.plot(_in(tu, t[:, 0]), _in(xu, learned.astype(np.float64)), "--", label="PINN")
        ax.set_xlabel(f"t [{tu}]")
        ax.set_ylabel(f"x [{xu}]")
        ax.set_title(f"damped oscillator (relative L2 error {self.relative_error():.1e})")
        ax.legend()


class HeatRod(Problem):
    """``u_t = α u_xx`` on ``[0, length] x [0, t_end]``, ``u(0, t) = u_left``,
    ``u(length, t) = u_right``, ``u(x, 0) = u_left + (u_right - u_left) x / length +
    bump · sin(π x / length)``. Exact: the bump decays as ``exp(-α π² t / length²)``.

    Nondimensional with ``ξ = x / length``, ``τ = t / t_end``, ``û = (u - u_left) / U``
    (``U`` the larger of ``|u_right - u_left|`` and ``|bump|``): ``û_τ = D û_ξξ`` with
    ``D = α t_end / length²``.
    """

    name = "heat_1d"
    time_axis = 1
    NEEDED: ClassVar[dict[str, str]] = {
        "length": "the rod's length",
        "diffusivity": "the thermal diffusivity",
        "u_left": "the temperature held at x = 0",
        "u_right": "the temperature held at x = length",
        "bump": "the amplitude of the initial sinusoidal bump",
        "t_end": "the end of the time domain",
    }

    def __init__(self, config: PinnJob) -> None:
        p = _read(self.name, config.parameters, self.NEEDED)
        _require(self.name, p["length"], "length", "the rod's length (the model's input x)")
        _require(self.name, p["t_end"], "time", "the time domain (the model's input t)")
        _require(self.name, p["u_left"], "temperature", "a temperature (the model's output u)")
        alpha, x, t = (
            p["diffusivity"].dimtensor_unit,
            p["length"].dimtensor_unit,
            p["t_end"].dimtensor_unit,
        )
        u = p["u_left"].dimtensor_unit
        check_terms(
            self.name,
            "residual",
            {
                "u_t": (u / t, f"u_left in '{p['u_left'].text}' over t_end in '{p['t_end'].text}'"),
                "α·u_xx": (alpha * u / x**2, f"diffusivity in '{p['diffusivity'].text}'"),
            },
        )
        check_terms(
            self.name,
            "boundary and initial",
            {
                "u(0, t) - u_left": (u, f"u_left in '{p['u_left'].text}'"),
                "u(L, t) - u_right": (
                    p["u_right"].dimtensor_unit,
                    f"u_right in '{p['u_right'].text}'",
                ),
                "bump": (p["bump"].dimtensor_unit, f"bump in '{p['bump'].text}'"),
            },
        )
        self.length, self.alpha, self.t_end = p["length"].si, p["diffusivity"].si, p["t_end"].si
        self.u_left, self.u_right = p["u_left"].si, p["u_right"].si
        self.bump = p["bump"].unit.scale * config.parameters["bump"].value  # a difference
        if min(self.length, self.alpha, self.t_end) <= 0:
            raise ConfigError(
                f"problem {self.name}: expected length, diffusivity and t_end > 0, received "
                f"{self.length}, {self.alpha} and {self.t_end} (SI)"
            )
        scale = max(abs(self.u_right - self.u_left), abs(self.bump)) or 1.0
        self.d = self.alpha * self.t_end / self.length**2
        self.architecture = {
            "name": "heat_rod_pinn",
            "params": {
                **_core(config.network, 2),
                "length": self.length,
                "t_scale": self.t_end,
                "u_scale": scale,
                "u_left": self.u_left,
                "u_right": self.u_right,
                "bump": self.bump,
            },
        }
        net = HeatRodParams.model_validate(self.architecture["params"]).build()
        if not isinstance(net, HeatRodNet):
            raise TypeError(f"heat_rod_pinn built {type(net).__name__}")
        self.net: HeatRodNet = net
        self.module = net
        self.signature = Signature(
            (Port("x", "m", "position along the rod"), Port("t", "s", "time")),
            (Port("u", "K", "temperature"),),
        )
        self.units = {"x": p["length"].text, "t": p["t_end"].text, "u": "K"}
        self.params = p

    def dimensions(self) -> int:
        return 2

    def residual(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        xi = points[:, :1].clone().requires_grad_(True)
        tau = points[:, 1:2].clone().requires_grad_(True)
        u = self.net.nondimensional(xi, tau)
        u_tau = _derivative(u, tau)
        u_xi = _derivative(u, xi)
        u_xixi = _derivative(u_xi, xi)
        return {"equation": torch.mean((u_tau - self.d * u_xixi) ** 2)}

    def exact(self, inputs: FloatArray) -> FloatArray:
        x, t = inputs[:, 0], inputs[:, 1]
        xi = x / self.length
        decay = np.exp(-self.alpha * math.pi**2 * t / self.length**2)
        steady = self.u_left + (self.u_right - self.u_left) * xi
        return np.asarray(steady + self.bump * np.sin(math.pi * xi) * decay, dtype=np.float64)

    def evaluation_points(self) -> FloatArray:
        x, t = np.meshgrid(np.linspace(0, self.length, 101), np.linspace(0, self.t_end, 51))
        return np.stack([x.ravel(), t.ravel()], axis=1)

    def relative_error(self) -> float:
        """Relative L2 error of the part that is learned: ``u - steady`` (absolute kelvins
        would hide any error behind 300 K)."""
        points = self.evaluation_points()
        with torch.no_grad():
            got = self.module(torch.from_numpy(points.astype(np.float32))).numpy()[:, 0]
        steady = self.u_left + (self.u_right - self.u_left) * points[:, 0] / self.length
        want = self.exact(points) - steady
        return float(np.linalg.norm(got - steady - want) / max(float(np.linalg.norm(want)), 1e-300))

    def describe_domain(self) -> str:
        p = self.params
        given = ", ".join(f"{n} = {p[n].si:g} {p[n].unit.si_expression}" for n in self.NEEDED)
        return (
            f"1-D heat equation u_t = α u_xx on a rod ({given}); valid for x in "
            f"[0, {self.length:g}] m and t in [0, {self.t_end:g}] s only"
        )

    def domain(self) -> dict[str, dict[str, Any]]:
        return {"x": _sampled(self.params["length"]), "t": _sampled(self.params["t_end"])}

    def plot(self, ax: Any) -> None:
        xs = np.linspace(0, self.length, 101)
        xu, tu = self.units["x"], self.units["t"]
        for fraction in (0.0, 0.25, 0.5, 1.0):
            t = fraction * self.t_end
            points = np.stack([xs, np.full_like(xs, t)], axis=1)
            with torch.no_grad():
                learned = self.module(torch.from_numpy(points.astype(np.float32))).numpy()[:, 0]
            label = f"t = {float(_in(tu, np.array(t))):g} {tu}"
            line = ax.plot(_in(xu, xs), self.exact(points), lw=3, alpha=0.4, label=label)
            ax.plot(_in(xu, xs), learned, "--", color=line[0].get_color())
        ax.set_xlabel(f"x [{xu}]")
        ax.set_ylabel("u [K]")
        ax.set_title(
            f"heat equation (analytic solid, PINN dashed; error {self.relative_error():.1e})"
        )
        ax.legend()


def _sampled(end: Param) -> dict[str, Any]:
    """``[0, end]`` in the unit the config gave `end` in: where points were sampled."""
    return {"lower": 0.0, "upper": end.value, "unit": end.text}


def _in(unit_text: str, si: FloatArray) -> FloatArray:
    """SI values in the config's unit, for an axis labelled in it."""
    return np.asarray(parse_unit(unit_text).from_si(si))


PROBLEMS: dict[str, Callable[[PinnJob], Problem]] = {
    "damped_oscillator": DampedOscillator,
    "heat_1d": HeatRod,
}
"""A config's ``problem`` -> its class (``PinnJob.problem`` lists the same names)."""


def problem_for(config: PinnJob) -> Problem:
    """The problem a config names, checked (a ``ConfigError`` before any training)."""
    return PROBLEMS[config.problem](config)
