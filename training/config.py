"""The training config file (one YAML document, mounted from a ConfigMap) and its overrides.

Two kinds: ``pinn`` (a physics-informed network for a problem given with physical parameters
in units) and ``surrogate`` (a network fitted to a Parquet dataset with units in its schema,
such as a batch sweep's output). Unknown keys are refused. The environment overrides where
things go, never what is trained: ``TRAIN_CHECKPOINT_DIR``, ``TRAIN_EXPORT_REPOSITORY``,
``TRAIN_DEVICE`` (``TrainSettings``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobkit.config import Name, Strict, UnitText, load_document, load_environment
from service.models.manifest import DomainSpec

__all__ = [
    "Export",
    "Network",
    "PinnJob",
    "Quantity",
    "SurrogateJob",
    "TrainSettings",
    "config_hash",
    "load_config",
    "load_settings",
]


class Quantity(Strict):
    """A physical parameter: a value and its unit."""

    value: float = Field(allow_inf_nan=False)
    unit: UnitText


class Network(Strict):
    """The trained network: a Fourier-feature MLP inside a PINN's ansatz, an MLP (or the MLP
    of a Pi-group model) for a surrogate."""

    hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        default_factory=lambda: [64, 64], min_length=1, max_length=16
    )
    activation: Literal["tanh", "relu", "gelu", "silu"] = "tanh"
    n_features: int = Field(16, ge=1, le=4096, description="Fourier features (pinn).")
    feature_scale: float = Field(1.0, gt=0, allow_inf_nan=False)


class Export(Strict):
    """Where the trained model goes: the next version of ``name`` in a model repository."""

    repository: Annotated[str, Field(min_length=1, max_length=4096)]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    description: str = ""
    domain: dict[Name, DomainSpec] = Field(
        default_factory=dict,
        description="Input -> the validity domain to declare instead of the one trained on "
        "(the data's range, or the sampled interval): e.g. a documented domain wider by "
        "a symmetry the training data did not need to cover.",
    )


class PiSpec(Strict):
    """Explicit Pi groups and scales (exponent rows over the inputs), instead of the ones
    dimtensor's ``buckingham_pi`` finds: e.g. the pendulum's amplitude² (an even group)."""

    groups: list[list[float]] = Field(min_length=1, max_length=64)
    scales: list[list[float]] = Field(min_length=1, max_length=64)
    constants: list[float] | None = None


class _Train(Strict):
    steps: int = Field(ge=0, le=10_000_000, description="Adam steps.")
    lbfgs_steps: int = Field(500, ge=0, le=1_000_000, description="L-BFGS iterations after.")
    seed: int = Field(0, ge=0, lt=2**63)
    learning_rate: float = Field(3e-3, gt=0, le=1, allow_inf_nan=False)
    batch: int = Field(256, ge=1, le=10_000_000, description="Global batch per Adam step.")
    network: Network = Field(default_factory=Network)
    checkpoint_dir: Annotated[str, Field(min_length=1, max_length=4096)]
    checkpoint_every: int = Field(500, ge=1, description="Steps between checkpoints.")
    log_every: int = Field(100, ge=1, description="Steps between metrics lines.")
    export: Export | None = None


class PinnJob(_Train):
    """A physics-informed network for one of ``training.problems``."""

    kind: Literal["pinn"]
    problem: Literal["damped_oscillator", "heat_1d"]
    parameters: dict[Name, Quantity]
    grid: int = Field(1024, ge=8, le=1_000_000, description="Points of the L-BFGS phase.")


class SurrogateJob(_Train):
    """A network fitted to ``data`` (Parquet with units in its schema): ``inputs`` ->
    ``outputs``; ``pi_group_mlp`` learns in Buckingham Pi groups of the inputs."""

    kind: Literal["surrogate"]
    data: Annotated[str, Field(min_length=1, max_length=4096)]
    inputs: list[Name] = Field(min_length=1, max_length=64)
    outputs: list[Name] = Field(min_length=1, max_length=64)
    architecture: Literal["mlp", "pi_group_mlp"] = "mlp"
    pi: PiSpec | None = Field(None, description="pi_group_mlp: groups and scales to use.")
    loss: Literal["normalized", "relative"] = Field(
        "normalized",
        description="normalized: squared error over each output's spread; relative: over "
        "the target itself (for outputs spanning orders of magnitude).",
    )
    validation_every: int = Field(
        10, ge=2, le=1000, description="Every n-th row is held out to measure the error."
    )


JobConfig = Annotated[PinnJob | SurrogateJob, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[PinnJob | SurrogateJob] = TypeAdapter(JobConfig)


class TrainSettings(BaseSettings):
    """Environment overrides of the training CLI (docs/training.md lists them)."""

    model_config = SettingsConfigDict(env_prefix="TRAIN_", extra="ignore", frozen=True)

    checkpoint_dir: Path | None = Field(None, description="Replaces the config's checkpoint_dir.")
    export_repository: Path | None = Field(
        None, description="Replaces the config's export.repository."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else CPU."
    )


def load_settings() -> TrainSettings:
    """The environment overrides; a malformed one is a config error (exit 2)."""
    return load_environment(TrainSettings)


def load_config(path: Path) -> PinnJob | SurrogateJob:
    """Read and check one config file; every refusal is a :class:`ConfigError`."""
    return load_document(path, _ADAPTER)


def config_hash(config: PinnJob | SurrogateJob) -> str:
    """What determines the weights: the config minus where things go and how often they
    are logged or saved."""
    skip = {"checkpoint_dir", "checkpoint_every", "log_every", "export"}
    text = json.dumps(config.model_dump(mode="json", exclude=skip), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
