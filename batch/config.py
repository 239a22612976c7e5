"""The batch config file (one YAML document, mounted from a ConfigMap) and its overrides.

The schema is pydantic: every field is typed and unknown keys are refused, so a typo in a
ConfigMap fails ``validate`` instead of being ignored by a running Job. Overrides come from
the environment (``BATCH_OUTPUT``, ``BATCH_SHARDS``, ...: ``BatchSettings``) and from the
command line, in that order of precedence: flag, environment, file.

Units here are only text; the one prediction core (``service.dataplane``) parses and checks
them, so a unit error reads the same in a Job's log as in a ``/predict`` answer.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobkit.config import Name, Strict, UnitText, load_document, load_environment
from jobkit.errors import ConfigError

__all__ = [
    "MAX_ROWS",
    "BatchSettings",
    "EquationQuery",
    "JobConfig",
    "ModelJob",
    "MonteCarloJob",
    "Parameter",
    "PiJob",
    "PredictJob",
    "SweepJob",
    "config_hash",
    "load_config",
    "load_settings",
]

MAX_ROWS = 10**12  # rows of one sweep or study: far beyond a Job, far inside int64
MAX_VALUES = 1_000_000  # written values of one parameter (``values:``, a linspace count)
RESERVED = ("row",)  # the global row index column every output carries

Finite = Annotated[float, Field(allow_inf_nan=False)]


class Normal(Strict):
    """Gaussian in the parameter's unit."""

    mean: Finite
    std: Finite = Field(gt=0)


class Uniform(Strict):
    """Uniform on ``[low, high)`` in the parameter's unit."""

    low: Finite
    high: Finite

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.high > self.low:
            raise ValueError(f"expected low < high, received low={self.low}, high={self.high}")
        return self


class LogNormal(Strict):
    """``median * exp(sigma * N(0, 1))``: the median in the parameter's unit, the shape
    ``sigma`` dimensionless (the standard deviation of the logarithm)."""

    median: Finite = Field(gt=0)
    sigma: Finite = Field(gt=0)


_GRID_KEYS = ("value", "values", "linspace", "logspace")
_RANDOM_KEYS = ("value", "normal", "uniform", "lognormal")


class Parameter(Strict):
    """One input of a sweep or a Monte Carlo study: a unit and exactly one way to get values.

    ``linspace``/``logspace`` are ``[start, stop, count]`` with both ends included;
    ``logspace`` spaces values geometrically between start and stop (numpy's ``geomspace``:
    the ends are values, not exponents).
    """

    unit: UnitText
    value: Finite | None = None
    values: list[Finite] | None = Field(None, min_length=1, max_length=MAX_VALUES)
    linspace: tuple[Finite, Finite, Annotated[int, Field(ge=1, le=MAX_VALUES)]] | None = None
    logspace: tuple[Finite, Finite, Annotated[int, Field(ge=1, le=MAX_VALUES)]] | None = None
    normal: Normal | None = None
    uniform: Uniform | None = None
    lognormal: LogNormal | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Parameter:
        given = [k for k in (*_GRID_KEYS, *_RANDOM_KEYS[1:]) if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "expected exactly one of value, values, linspace, logspace (sweep) or "
                f"value, normal, uniform, lognormal (montecarlo), received {given or 'none'}"
            )
        if self.logspace is not None and not (self.logspace[0] > 0 and self.logspace[1] > 0):
            raise ValueError(
                f"logspace needs start > 0 and stop > 0, received {list(self.logspace)}"
            )
        return self

    @property
    def source(self) -> str:
        """Which key gives the values (``value``, ``linspace``, ``normal``, ...)."""
        return next(k for k in (*_GRID_KEYS, *_RANDOM_KEYS[1:]) if getattr(self, k) is not None)


class _Job(Strict):
    output: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="Folder of the part files (``BATCH_OUTPUT`` overrides it)."
    )
    shards: int | None = Field(None, ge=1, le=100_000)
    merge: bool = Field(False, description="The shard that completes the set merges it.")


class ModelJob(_Job):
    """A job that runs a model of the repository through the prediction core."""

    model: Name
    version: Name | None = None
    outputs: dict[Name, UnitText] | None = Field(
        None, description="Output -> unit; omitted outputs come in the model's units."
    )
    output_dtype: Literal["model", "float64"] = Field(
        "model",
        description="The outputs' column type: the dtype the model computes in (float32 for "
        "the server's architectures), or float64 (wider columns, no more precision).",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        """``version: 1`` in YAML is an int; the repository's versions are folder names."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _parameters_with(allowed: tuple[str, ...], kind: str, params: dict[str, Parameter]) -> None:
    for name, param in params.items():
        if param.source not in allowed:
            raise ValueError(
                f"parameter {name!r}: a {kind} takes {', '.join(allowed)}; received {param.source}"
            )
        if name in RESERVED:
            raise ValueError(f"parameter name {name!r} is reserved for the row index column")


class SweepJob(ModelJob):
    """The full cross product of the parameters' values, in the order they are listed
    (the first parameter varies slowest)."""

    kind: Literal["sweep"]
    parameters: dict[Name, Parameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _grid(self) -> SweepJob:
        _parameters_with(_GRID_KEYS, "sweep", self.parameters)
        rows = math.prod(_grid_count(p) for p in self.parameters.values())
        if rows > MAX_ROWS:
            raise ValueError(f"the grid has {rows} rows; expected at most {MAX_ROWS}")
        return self

    @property
    def rows(self) -> int:
        return math.prod(_grid_count(p) for p in self.parameters.values())


def _grid_count(param: Parameter) -> int:
    if param.values is not None:
        return len(param.values)
    if param.linspace is not None:
        return param.linspace[2]
    if param.logspace is not None:
        return param.logspace[2]
    return 1


class MonteCarloJob(ModelJob):
    """``samples`` seeded random rows; the same seed gives the same rows for any shard count."""

    kind: Literal["montecarlo"]
    parameters: dict[Name, Parameter] = Field(min_length=1)
    samples: int = Field(ge=1, le=MAX_ROWS)
    seed: int = Field(ge=0, lt=2**63)

    @model_validator(mode="after")
    def _random(self) -> MonteCarloJob:
        _parameters_with(_RANDOM_KEYS, "montecarlo", self.parameters)
        return self

    @property
    def rows(self) -> int:
        return self.samples


class PredictJob(ModelJob):
    """Score a dataset: Parquet (units in the schema) or CSV/Parquet plus ``units:``."""

    kind: Literal["predict"]
    input: Annotated[str, Field(min_length=1, max_length=4096)]
    format: Literal["parquet", "csv"] | None = Field(
        None, description="Default: from the file's suffix (.parquet/.pq, .csv)."
    )
    units: dict[Name, UnitText] = Field(
        default_factory=dict, description="Column -> unit, for columns the file gives none."
    )
    keep: list[Name] = Field(
        default_factory=list, description="Columns copied to the output unchanged (ids)."
    )

    @property
    def input_format(self) -> Literal["parquet", "csv"]:
        if self.format is not None:
            return self.format
        suffix = Path(self.input).suffix.lower()
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix == ".csv":
            return "csv"
        raise ConfigError(
            f"input {self.input!r}: cannot tell the format from the suffix {suffix!r}; "
            "expected .parquet, .pq or .csv, or set format: parquet|csv"
        )


class EquationQuery(Strict):
    """Equations of dimtensor's database: one by name, a domain, or a text search."""

    name: Name | None = None
    domain: Name | None = None
    search: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> EquationQuery:
        given = [k for k in ("name", "domain", "search") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of name, domain, search; received {given}")
        return self


class PiJob(_Job):
    """Buckingham Pi analysis of named variables, or of equations from dimtensor's database."""

    kind: Literal["pi"]
    variables: dict[Name, UnitText] | None = Field(None, min_length=1)
    equations: EquationQuery | None = None

    @model_validator(mode="after")
    def _one(self) -> PiJob:
        if (self.variables is None) == (self.equations is None):
            raise ValueError("expected exactly one of variables or equations")
        return self


JobConfig = Annotated[SweepJob | MonteCarloJob | PredictJob | PiJob, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[SweepJob | MonteCarloJob | PredictJob | PiJob] = TypeAdapter(JobConfig)


class BatchSettings(BaseSettings):
    """Environment overrides of the batch CLI (docs/batch.md lists them)."""

    model_config = SettingsConfigDict(env_prefix="BATCH_", extra="ignore", frozen=True)

    output: Path | None = Field(None, description="Replaces the config's output folder.")
    shards: int | None = Field(None, ge=1, le=100_000, description="Shard count.")
    chunk_rows: int = Field(
        65_536, ge=1, le=10_000_000, description="Rows per forward pass and Parquet row group."
    )
    progress_seconds: float = Field(
        10.0, gt=0, allow_inf_nan=False, description="Seconds between progress lines."
    )
    job_completion_index: str | None = Field(
        None,
        validation_alias="JOB_COMPLETION_INDEX",
        description="Set by Kubernetes in an Indexed Job: this pod's shard.",
    )

    @field_validator("output", "shards", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def load_settings() -> BatchSettings:
    """The environment overrides; a malformed one is a config error (exit 2)."""
    return load_environment(BatchSettings)


def load_config(path: Path) -> SweepJob | MonteCarloJob | PredictJob | PiJob:
    """Read and check one config file; every refusal is a :class:`ConfigError`."""
    return load_document(path, _ADAPTER)


def config_hash(config: BaseModel, extra: dict[str, Any] | None = None) -> str:
    """What determines the rows: the config minus where they go and how they are split
    (``output``, ``shards``, ``merge``), plus `extra` (the input file's fingerprint)."""
    doc = config.model_dump(mode="json", exclude={"output", "shards", "merge"})
    if extra:
        doc["_extra"] = extra
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
