"""The ``model.yaml`` schema: what a model declares about itself, checked before torch runs.

A manifest is the contract between a model author and the server: tensor names, per-row shapes and
units on both sides, the architecture the code builds, and where the weights are. Everything that
can be judged from the text alone (identifiers, duplicate names, a weights path that escapes its
folder, a malformed hash) is refused here; checks that need the unit grammar, the architecture
registry or the weights file live in :mod:`service.models.runtime`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.errors import ManifestError

__all__ = [
    "DOMAIN_POLICIES",
    "MANIFEST_FILENAME",
    "ArchitectureSpec",
    "Bound",
    "DomainPolicy",
    "DomainSpec",
    "ModelManifest",
    "TensorSpec",
    "WeightsSpec",
    "describe_validation_error",
    "load_manifest",
]

MANIFEST_FILENAME = "model.yaml"

# Model names and versions appear in URLs (/v2/models/{name}/versions/{version}) and as folder
# names: keep them to characters that need no escaping anywhere.
_SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Tensor names become JSON keys and keyword-like names in clients: identifier-like.
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    """Unknown keys are refused: a typo in a manifest must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DomainPolicy = Literal["flag", "refuse", "ignore"]
DOMAIN_POLICIES: tuple[DomainPolicy, ...] = ("flag", "refuse", "ignore")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Bound(_Strict):
    """One end of an input's validity domain: a value (one number, or one per element of
    an array input), its unit (default: the domain's, else the input's) and whether the
    end itself is excluded (``open``). A bare number is shorthand for ``{value: N}``."""

    value: FiniteFloat | list[FiniteFloat] = Field(
        description="The bound, or one bound per element of an array input (row-major)."
    )
    unit: str | None = Field(None, min_length=1, max_length=200)
    open: bool = Field(False, description="True: the bound itself is outside (x > lower).")

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, data: Any) -> Any:
        if isinstance(data, int | float | list) and not isinstance(data, bool):
            return {"value": data}
        return data

    @field_validator("value")
    @classmethod
    def _some_values(cls, value: float | list[float]) -> float | list[float]:
        if isinstance(value, list) and not value:
            raise ValueError("a per-element bound needs one value per element, received []")
        return value


class DomainSpec(_Strict):
    """Where the model is valid in one input: ``lower`` and/or ``upper``, closed unless
    ``open``, in ``unit`` (default: the input's unit). Checked against the input's
    dimension and ``lower < upper`` when the model loads (``service.models.domains``)."""

    lower: Bound | None = None
    upper: Bound | None = None
    unit: str | None = Field(None, min_length=1, max_length=200)
    description: str = ""

    @model_validator(mode="after")
    def _some_bound(self) -> DomainSpec:
        if self.lower is None and self.upper is None:
            raise ValueError("a domain needs 'lower', 'upper' or both; received neither")
        return self

    def bounds(self) -> list[tuple[str, Bound]]:
        """The bounds given, as ("lower" | "upper", bound)."""
        return [(side, b) for side, b in (("lower", self.lower), ("upper", self.upper)) if b]


class TensorSpec(_Strict):
    """One named tensor of a model's signature, per row, in the model's own unit."""

    name: str = Field(pattern=_IDENTIFIER)
    unit: str = Field(min_length=1, max_length=200)
    shape: list[int] = Field(default_factory=list, max_length=8)
    description: str = ""
    domain: DomainSpec | None = Field(
        None, description="Inputs only: where the model is valid (flagged or refused outside)."
    )

    @field_validator("shape")
    @classmethod
    def _positive_dims(cls, shape: list[int]) -> list[int]:
        bad = [d for d in shape if d < 1]
        if bad:
            raise ValueError(f"every per-row dimension must be >= 1, received {shape}")
        return shape

    @model_validator(mode="after")
    def _one_bound_per_element(self) -> TensorSpec:
        for side, bound in self.domain.bounds() if self.domain else []:
            if isinstance(bound.value, list) and len(bound.value) != self.size:
                raise ValueError(
                    f"domain.{side}: a per-element bound needs one value per element of "
                    f"shape {self.shape} ({self.size}), received {len(bound.value)}"
                )
        return self

    @property
    def size(self) -> int:
        """Elements per row: the width this tensor takes in the architecture's input/output."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size


class ArchitectureSpec(_Strict):
    """Which code-defined architecture to build, and its parameters (checked by the registry)."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class WeightsSpec(_Strict):
    """A weights file next to the manifest, in a format the server knows how to read safely."""

    file: str = Field(min_length=1)
    format: Literal["safetensors", "state_dict", "torchscript"]
    sha256: str | None = None

    @field_validator("file")
    @classmethod
    def _relative_inside(cls, file: str) -> str:
        posix, windows = PurePosixPath(file), PureWindowsPath(file)
        if posix.is_absolute() or windows.is_absolute() or windows.drive or file.startswith("\\"):
            raise ValueError(
                f"weights file must be a path relative to the manifest's folder, received {file!r}"
            )
        if ".." in posix.parts or ".." in windows.parts:
            raise ValueError(
                f"weights file must stay inside the manifest's folder (no '..'), received {file!r}"
            )
        return file

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, digest: str | None) -> str | None:
        if digest is None:
            return None
        digest = digest.lower()
        if not _SHA256.match(digest):
            raise ValueError(
                f"sha256 must be 64 hexadecimal characters, received {len(digest)} characters"
            )
        return digest


class ModelManifest(_Strict):
    """A whole ``model.yaml``. Tensor names are unique across inputs and outputs together."""

    name: str = Field(pattern=_SLUG)
    version: str = Field(pattern=_SLUG)
    description: str = ""
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    architecture: ArchitectureSpec
    weights: WeightsSpec | None = None
    domain_policy: DomainPolicy | None = Field(
        None,
        description="Outside an input's domain: flag the rows, refuse the request, or "
        "ignore the domain; unset: the server's DOMAIN_POLICY.",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, version: Any) -> Any:
        # YAML reads `version: 1` as an int; a version is a label, so accept it as text.
        if isinstance(version, int) and not isinstance(version, bool):
            return str(version)
        return version

    @model_validator(mode="after")
    def _unique_names(self) -> ModelManifest:
        seen: dict[str, str] = {}
        for side, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            for spec in specs:
                if spec.name in seen:
                    raise ValueError(
                        f"duplicate tensor name {spec.name!r}: declared in {seen[spec.name]} "
                        f"and again in {side}; every input and output name must be unique"
                    )
                seen[spec.name] = side
        outputs_with_domain = [s.name for s in self.outputs if s.domain is not None]
        if outputs_with_domain:
            raise ValueError(
                f"output {outputs_with_domain[0]!r} declares a domain; only inputs have one "
                "(it is where the model may be asked, not what it answers)"
            )
        return self


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: where, what was expected, and what was received."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (not part of the schema)"
        elif item["type"] != "value_error" and isinstance(
            item.get("input"), str | int | float | bool
        ):
            message += f", received {str(item['input'])[:80]!r}"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def load_manifest(path: Path) -> ModelManifest:
    """Read and validate one ``model.yaml``; every failure is a :class:`ManifestError`.

    ``yaml.safe_load`` only: a manifest can never construct Python objects.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"manifest {path}: cannot be read as UTF-8 text ({exc})", path=str(path)
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(
            f"manifest {path}: invalid YAML{where}: {problem}", path=str(path)
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(
            f"manifest {path}: expected a YAML mapping at the top level, "
            f"received {type(data).__name__}",
            path=str(path),
        )
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(
            f"manifest {path}: {describe_validation_error(exc)}",
            path=str(path),
            errors=exc.error_count(),
        ) from exc
