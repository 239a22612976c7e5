"""Reading a job's config: one YAML mapping of bounded size, strict pydantic models, and
refusals worded one way (where, what was expected, what was received).

Every refusal is a :class:`~jobkit.errors.ConfigError` (exit 2), raised before any work. A
config file holds one document whose ``kind`` key picks its model; each CLI gives its own
kinds as a discriminated union (``TypeAdapter``), so this module knows no kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings

from jobkit.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "Name",
    "Strict",
    "UnitText",
    "describe_errors",
    "load_document",
    "load_environment",
    "read_mapping",
]

MAX_CONFIG_BYTES = 1_048_576

Name = Annotated[str, Field(min_length=1, max_length=128)]
UnitText = Annotated[str, Field(min_length=1, max_length=256)]

T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)


class Strict(BaseModel):
    """A config model: unknown keys refused (a typo fails ``validate``), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_mapping(path: Path, expected: str = "a mapping with a 'kind' key") -> dict[str, Any]:
    """One YAML mapping from a file of at most MAX_CONFIG_BYTES; `expected` says what the
    mapping is for when the file holds something else."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path}: {len(raw)} bytes; expected at most {MAX_CONFIG_BYTES}")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"config {path}: expected {expected}, received {type(doc).__name__}")
    return doc


def load_document(path: Path, adapter: TypeAdapter[T]) -> T:
    """Read `path` and validate it with `adapter` (the CLI's kinds)."""
    doc = read_mapping(path)
    try:
        return adapter.validate_python(doc)
    except ValidationError as exc:
        kind = doc.get("kind")
        raise ConfigError(
            f"config {path}: " + describe_errors(exc, tag=kind if isinstance(kind, str) else None)
        ) from None


def load_environment(settings: type[S]) -> S:
    """The CLI's environment overrides (a ``BaseSettings`` with an ``env_prefix``)."""
    try:
        return settings()
    except ValidationError as exc:
        prefix = str(settings.model_config.get("env_prefix") or "")
        raise ConfigError("environment: " + describe_errors(exc, environment=prefix)) from None


def describe_errors(
    exc: ValidationError, *, environment: str | None = None, tag: str | None = None
) -> str:
    """pydantic's errors as sentences: where, what was expected, what was received.

    `environment`: the errors are of environment variables with this prefix (``BATCH_``, or
    ``""``): a location reads as the variable's name. `tag`: the document's ``kind``, which
    pydantic puts first in every location of a discriminated union's errors; it is not a key
    of the file.
    """
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        path = list(error["loc"])
        if tag is not None and path and path[0] == tag:
            path = path[1:]
        loc = ".".join(str(p) for p in path)
        if environment is not None:
            where = environment + loc.upper() if loc else "the environment"
        else:
            where = loc or "the document"
        received = _short(error.get("input"))
        parts.append(f"{where}: {error['msg']} (received {received})")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
