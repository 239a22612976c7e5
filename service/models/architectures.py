"""The architectures a manifest may name: the server's own, and those installed packages offer.

A manifest names an architecture and gives its parameters; it never ships code. Each entry is a
pydantic parameters model (``extra="forbid"``) that knows its input/output widths, how to build
its :class:`torch.nn.Module`, whether it has weights to load, and which dimensions it needs from
the manifest's units (so a Pi-group surrogate or an analytic formula cannot be wired to inputs of
the wrong physical kind).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib.metadata import entry_points
from typing import ClassVar, TypeVar

from dimtensor import Dimension
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from service.errors import ManifestError
from service.models.manifest import ArchitectureSpec, describe_validation_error
from service.models.nets import (
    MLP,
    Activation,
    FourierMLP,
    HeatRodNet,
    InitialValueNet,
    PiGroupMLP,
    Projectile,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArchitectureParams",
    "FourierMLPParams",
    "HeatRodParams",
    "InitialValueParams",
    "MLPParams",
    "PiGroupMLPParams",
    "ProjectileParams",
    "TorchScriptParams",
    "architecture_names",
    "architecture_origin",
    "builtin_architectures",
    "find_architecture",
    "offers",
    "resolve_architecture",
]


class ArchitectureParams(BaseModel):
    """Base of every architecture's parameters: the registry entry *is* the params class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    has_weights: ClassVar[bool] = True

    def widths(self) -> tuple[int, int]:
        """(n_in, n_out): the flat widths the module consumes and produces."""
        raise NotImplementedError

    def build(self) -> nn.Module:
        """A fresh module with initial (untrained) parameters."""
        raise NotImplementedError

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        """Why the per-column input/output dimensions do not suit this architecture ([] = fine)."""
        return []


_REGISTRY: dict[str, type[ArchitectureParams]] = {}
_P = TypeVar("_P", bound=type[ArchitectureParams])


def _register(name: str) -> Callable[[_P], _P]:
    def add(cls: _P) -> _P:
        _REGISTRY[name] = cls
        return cls

    return add


ENTRY_POINT_GROUP = "dimtensor_serve.architectures"
"""Installed distributions offer architectures here: ``name = "package.module:ParamsClass"``,
a subclass of :class:`ArchitectureParams`. Code comes only from installed packages, never
from a model repository."""


@dataclass(frozen=True)
class Offer:
    """One architecture offered under a name, and where it comes from."""

    name: str
    origin: str  # "<distribution> <version>"
    _load: Callable[[], object]

    def load(self) -> type[ArchitectureParams]:
        """The params class; :class:`ManifestError` when the offer is broken."""
        try:
            cls = self._load()
        except Exception as exc:  # any failure of foreign code is the offer's
            raise ManifestError(
                f"architecture {self.name!r} from {self.origin} could not be loaded: "
                f"{type(exc).__name__}: {exc}",
                architecture=self.name,
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, ArchitectureParams)):
            raise ManifestError(
                f"architecture {self.name!r} from {self.origin} is {cls!r}; expected a subclass "
                "of service.models.architectures.ArchitectureParams",
                architecture=self.name,
            )
        return cls


def _same(cls: type[ArchitectureParams]) -> type[ArchitectureParams]:
    return cls


def _builtin_origin() -> str:
    from service import __version__

    return f"dimtensor-serve {__version__}"


@lru_cache(maxsize=1)
def offers() -> dict[str, tuple[Offer, ...]]:
    """Every offered architecture by name: the built-in ones and those of installed packages
    (read once per process, when the first model loads: the gunicorn master never reads it)."""
    found: dict[str, list[Offer]] = {}
    builtin = _builtin_origin()
    for name, cls in _REGISTRY.items():
        found.setdefault(name, []).append(Offer(name, builtin, functools.partial(_same, cls)))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else f"entry point {ep.value}"
        found.setdefault(ep.name, []).append(Offer(ep.name, origin, ep.load))
    return {name: tuple(o) for name, o in sorted(found.items())}


def architecture_names() -> list[str]:
    return list(offers())


def builtin_architectures() -> dict[str, type[ArchitectureParams]]:
    """The architectures this package defines, by name: what the manifest reference lists."""
    return dict(sorted(_REGISTRY.items()))


def find_architecture(name: str) -> tuple[type[ArchitectureParams], str]:
    """The params class offered as `name` and its origin ("<distribution> <version>").

    Raises:
        ManifestError: no package offers `name`, two do, or the offer is broken; the error is
            the model's alone (the repository loads its other models).
    """
    offered = offers().get(name, ())
    if not offered:
        raise ManifestError(
            f"unknown architecture {name!r}; expected one of {architecture_names()} (installed "
            f"packages offer more through the entry-point group {ENTRY_POINT_GROUP!r})",
            architecture=name,
            expected=architecture_names(),
        )
    if len(offered) > 1:
        origins = ", ".join(o.origin for o in offered)
        raise ManifestError(
            f"architecture {name!r} is offered {len(offered)} times ({origins}); expected one "
            "offer: uninstall or rename one",
            architecture=name,
        )
    (offer,) = offered
    return offer.load(), offer.origin


def architecture_origin(name: str) -> str | None:
    """Where the architecture named `name` comes from ("<distribution> <version>"), or None
    when no package or several offer it (the model then failed to load, saying so)."""
    offered = offers().get(name, ())
    return offered[0].origin if len(offered) == 1 else None


def resolve_architecture(spec: ArchitectureSpec) -> ArchitectureParams:
    """Look up ``spec.name`` and validate ``spec.params``; :class:`ManifestError` otherwise."""
    cls, origin = find_architecture(spec.name)
    try:
        return cls.model_validate(spec.params)
    except ValidationError as exc:
        offered_by = "" if cls is _REGISTRY.get(spec.name) else f" (offered by {origin})"
        raise ManifestError(
            f"architecture {spec.name!r}: bad params: {describe_validation_error(exc)}{offered_by}",
            architecture=spec.name,
        ) from exc


class _Hidden(ArchitectureParams):
    hidden: list[int] = Field(
        default_factory=lambda: [64, 64],
        max_length=16,
        description="Widths of the hidden layers (1..4096 each, 16 layers at most).",
    )
    activation: Activation = Field("tanh", description="The activation between layers.")
    normalize: bool = Field(
        False, description="A per-column shift and scale around the network, in the weights."
    )

    @model_validator(mode="after")
    def _positive_hidden(self) -> _Hidden:
        if any(h < 1 or h > 4096 for h in self.hidden):
            raise ValueError(f"hidden widths must be in 1..4096, received {self.hidden}")
        return self


_IN = "Input columns: the elements of every input together."
_OUT = "Output columns: the elements of every output together."
_N_FEATURES = "Random projections."
_FEATURE_SCALE = "Standard deviation of the projections (larger: finer detail)."
_SEED = "Seed of the random projections."


@_register("mlp")
class MLPParams(_Hidden):
    """A multilayer perceptron from the input columns to the output columns."""

    in_features: int = Field(ge=1, le=65536, description=_IN)
    out_features: int = Field(ge=1, le=65536, description=_OUT)

    def widths(self) -> tuple[int, int]:
        return self.in_features, self.out_features

    def build(self) -> nn.Module:
        return MLP(
            self.in_features, self.out_features, self.hidden, self.activation, self.normalize
        )


@_register("fourier_mlp")
class FourierMLPParams(_Hidden):
    """An MLP over random Fourier features of the inputs (sines and cosines of random
    projections), for functions with fine detail."""

    in_features: int = Field(ge=1, le=65536, description=_IN)
    out_features: int = Field(ge=1, le=65536, description=_OUT)
    n_features: int = Field(default=64, ge=1, le=4096, description=_N_FEATURES)
    scale: float = Field(
        default=1.0,
        gt=0.0,
        allow_inf_nan=False,
        description=_FEATURE_SCALE,
    )
    learned_features: bool = Field(False, description="Train the projections too.")
    seed: int = Field(default=0, ge=0, description=_SEED)

    def widths(self) -> tuple[int, int]:
        return self.in_features, self.out_features

    def build(self) -> nn.Module:
        return FourierMLP(
            self.in_features,
            self.out_features,
            n_features=self.n_features,
            scale=self.scale,
            learned=self.learned_features,
            hidden=self.hidden,
            activation=self.activation,
            normalize=self.normalize,
            seed=self.seed,
        )


def _fraction(x: float) -> Fraction:
    return Fraction(x).limit_denominator(64)


def _monomial(dims: Sequence[Dimension], exponents: Sequence[float]) -> Dimension:
    result = Dimension()
    for dim, e in zip(dims, exponents, strict=True):
        if e != 0.0:
            result = result * dim ** _fraction(e)
    return result


@_register("pi_group_mlp")
class PiGroupMLPParams(_Hidden):
    """``y_j = c_j · prod_i x_i^scale_exponents[j][i] · mlp(prod_i x_i^group_exponents[k][i])``.

    At load the manifest's units must make every group dimensionless and every scale carry its
    output's dimension.
    """

    group_exponents: list[list[float]] = Field(
        min_length=1,
        max_length=64,
        description="One row per dimensionless group, one exponent per input column.",
    )
    scale_exponents: list[list[float]] = Field(
        min_length=1,
        max_length=64,
        description="One row per output, one exponent per input column: the output's scale.",
    )
    scale_constants: list[float] | None = Field(
        None, description="One factor per output (`c_j`); unset: 1 each."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PiGroupMLPParams:
        rows = self.group_exponents + self.scale_exponents
        n_in = len(rows[0])
        if n_in < 1 or any(len(r) != n_in for r in rows):
            raise ValueError(
                "every row of group_exponents and scale_exponents must have one exponent per "
                f"input column; received row lengths {[len(r) for r in rows]}"
            )
        if not all(math.isfinite(e) for r in rows for e in r):
            raise ValueError("exponents must be finite numbers")
        n_out = len(self.scale_exponents)
        if self.scale_constants is not None and len(self.scale_constants) != n_out:
            raise ValueError(
                f"scale_constants needs one value per output ({n_out}), "
                f"received {len(self.scale_constants)}"
            )
        return self

    def widths(self) -> tuple[int, int]:
        return len(self.group_exponents[0]), len(self.scale_exponents)

    def build(self) -> nn.Module:
        constants = self.scale_constants or [1.0] * len(self.scale_exponents)
        return PiGroupMLP(
            self.group_exponents,
            self.scale_exponents,
            constants,
            self.hidden,
            self.activation,
            self.normalize,
        )

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        problems = []
        for k, row in enumerate(self.group_exponents):
            dim = _monomial(inputs, row)
            if not dim.is_dimensionless:
                problems.append(
                    f"group_exponents[{k}] must form a dimensionless group from the inputs' "
                    f"units; it has dimension {dim}"
                )
        for j, row in enumerate(self.scale_exponents):
            dim = _monomial(inputs, row)
            if dim != outputs[j]:
                problems.append(
                    f"scale_exponents[{j}] gives dimension {dim}, but output column {j} "
                    f"has dimension {outputs[j]}"
                )
        return problems


@_register("torchscript")
class TorchScriptParams(ArchitectureParams):
    """An opaque module from a TorchScript file (trusted repositories only).

    Declared explicitly so that a manifest naming a code-defined architecture can never have its
    module silently replaced by code from a file; the widths still let the loader check it.
    """

    in_features: int = Field(ge=1, le=65536, description=_IN)
    out_features: int = Field(ge=1, le=65536, description=_OUT)

    def widths(self) -> tuple[int, int]:
        return self.in_features, self.out_features

    def build(self) -> nn.Module:
        raise ManifestError(
            "architecture 'torchscript' has no code-defined module; "
            "expected weights with format 'torchscript'"
        )


@_register("projectile")
class ProjectileParams(ArchitectureParams):
    """Analytic: inputs (speed, angle, g), outputs (range, apex height, flight time). No weights."""

    has_weights: ClassVar[bool] = False

    def widths(self) -> tuple[int, int]:
        return 3, 3

    def build(self) -> nn.Module:
        return Projectile()

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        length, time, one = Dimension(length=1), Dimension(time=1), Dimension()
        expected_in = [length / time, one, length / time**2]
        expected_out = [length, length, time]
        labels_in = ["speed", "angle", "gravitational acceleration"]
        labels_out = ["range", "apex height", "flight time"]
        problems = [
            f"input column {i} ({labels_in[i]}) must have dimension {want}, received {got}"
            for i, (want, got) in enumerate(zip(expected_in, inputs, strict=True))
            if want != got
        ]
        problems += [
            f"output column {i} ({labels_out[i]}) must have dimension {want}, received {got}"
            for i, (want, got) in enumerate(zip(expected_out, outputs, strict=True))
            if want != got
        ]
        return problems


class _FourierCore(_Hidden):
    """The Fourier-feature MLP inside a PINN ansatz (its input is already dimensionless)."""

    n_features: int = Field(default=16, ge=1, le=4096, description=_N_FEATURES)
    feature_scale: float = Field(
        default=1.0,
        gt=0.0,
        allow_inf_nan=False,
        description=_FEATURE_SCALE,
    )
    seed: int = Field(default=0, ge=0, description=_SEED)

    def _core(self, n_in: int) -> FourierMLP:
        return FourierMLP(
            n_in,
            1,
            n_features=self.n_features,
            scale=self.feature_scale,
            learned=False,
            hidden=self.hidden,
            activation=self.activation,
            normalize=False,
            seed=self.seed,
        )


@_register("initial_value_pinn")
class InitialValueParams(_FourierCore):
    """A PINN for ``y(t)`` with ``y(0)``, ``y'(0)`` built in (``training``'s damped oscillator).
    Scales are in the manifest's units: ``t_scale`` in the input's, ``y_scale`` in the
    output's; ``y0``, ``v0`` are dimensionless (``y(0)/y_scale``, ``y'(0)·t_scale/y_scale``)."""

    t_scale: float = Field(
        gt=0.0, allow_inf_nan=False, description="Time scale, in the input's unit."
    )
    y_scale: float = Field(
        gt=0.0, allow_inf_nan=False, description="Scale of `y`, in the output's unit."
    )
    y0: float = Field(allow_inf_nan=False, description="`y(0) / y_scale`.")
    v0: float = Field(allow_inf_nan=False, description="`y'(0) · t_scale / y_scale`.")

    def widths(self) -> tuple[int, int]:
        return 1, 1

    def build(self) -> nn.Module:
        return InitialValueNet(self.t_scale, self.y_scale, self.y0, self.v0, self._core(1))

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        time = Dimension(time=1)
        if inputs[0] != time:
            return [f"the input must be a time, received dimension {inputs[0]}"]
        return []


@_register("heat_rod_pinn")
class HeatRodParams(_FourierCore):
    """A PINN for ``u(x, t)`` on a rod, boundary and initial conditions built in
    (``training``'s 1-D heat equation). ``length`` and ``t_scale`` are in the inputs' units,
    the temperatures in the output's (kelvin: absolute, so no offset is needed)."""

    length: float = Field(
        gt=0.0, allow_inf_nan=False, description="The rod's length, in the first input's unit."
    )
    t_scale: float = Field(
        gt=0.0, allow_inf_nan=False, description="Time scale, in the second input's unit."
    )
    u_scale: float = Field(
        gt=0.0, allow_inf_nan=False, description="Temperature scale, in the output's unit."
    )
    u_left: float = Field(
        allow_inf_nan=False, description="Temperature at `x = 0`, in the output's unit."
    )
    u_right: float = Field(
        allow_inf_nan=False, description="Temperature at `x = length`, in the output's unit."
    )
    bump: float = Field(
        allow_inf_nan=False,
        description="The initial bump `bump·sin(πx/length)`, in the output's unit.",
    )

    def widths(self) -> tuple[int, int]:
        return 2, 1

    def build(self) -> nn.Module:
        return HeatRodNet(
            self.length,
            self.t_scale,
            self.u_scale,
            self.u_left,
            self.u_right,
            self.bump,
            self._core(2),
        )

    def dimension_problems(
        self, inputs: Sequence[Dimension], outputs: Sequence[Dimension]
    ) -> list[str]:
        expected = [Dimension(length=1), Dimension(time=1)]
        problems = [
            f"input column {i} must have dimension {want}, received {got}"
            for i, (want, got) in enumerate(zip(expected, inputs, strict=True))
            if want != got
        ]
        if outputs[0] != Dimension(temperature=1):
            problems.append(f"the output must be a temperature, received {outputs[0]}")
        return problems
