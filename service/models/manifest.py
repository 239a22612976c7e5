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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


# What the JSON schema says where a validator accepts more than the field's type (an editor
# must not flag a manifest the server loads): each mutates the field's generated schema.
def _label_or_count(schema: dict[str, Any]) -> None:
    """``version: 1`` is read as the label "1"."""
    label = {"type": schema.pop("type"), "pattern": schema.pop("pattern")}
    schema["anyOf"] = [label, {"type": "integer", "minimum": 0}]


def _hex_any_case(schema: dict[str, Any]) -> None:
    """The digest is lowercased before it is checked."""
    schema["anyOf"][0]["pattern"] = "^[0-9a-fA-F]{64}$"


def _inside_folder(schema: dict[str, Any]) -> None:
    """Not absolute (POSIX, a drive, a UNC path), and no ``..`` part."""
    escapes = [r"^[/\\]", "^[A-Za-z]:", r"(^|[/\\])\.\.([/\\]|$)"]
    schema["not"] = {"anyOf": [{"pattern": pattern} for pattern in escapes]}


def _dims_at_least_one(schema: dict[str, Any]) -> None:
    schema["items"]["minimum"] = 1


def _some_elements(schema: dict[str, Any]) -> None:
    """A per-element bound has at least one value."""
    for branch in schema["anyOf"]:
        if branch.get("type") == "array":
            branch["minItems"] = 1


class _Strict(BaseModel):
    """Unknown keys are refused: a typo in a manifest must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DomainPolicy = Literal["flag", "refuse", "ignore"]
DOMAIN_POLICIES: tuple[DomainPolicy, ...] = ("flag", "refuse", "ignore")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# A unit as its author writes it; the unit grammar reads it when the model loads.
UnitText = Annotated[str, Field(min_length=1, max_length=200)]


class Bound(_Strict):
    """One end of an input's validity domain: a value (one number, or one per element of
    an array input), its unit (default: the domain's, else the input's) and whether the
    end itself is excluded (``open``). A bare number is shorthand for ``{value: N}``."""

    value: FiniteFloat | list[FiniteFloat] = Field(
        description="The bound, or one bound per element of an array input (row-major).",
        examples=[0, [0, 0, -1]],
        json_schema_extra=_some_elements,
    )
    unit: UnitText | None = Field(
        None,
        description="The bound's unit; unset: the domain's `unit`, else the input's.",
        examples=["km"],
    )
    open: bool = Field(
        False,
        description="True: the bound itself is outside (`x > lower`, `x < upper`).",
        examples=[True],
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The bare-number shorthand (``lower: 0``, ``lower: [0, 0, -1]``) is a bound too.
        mapping = handler.resolve_ref_schema(handler(core_schema))
        shorthand = {"type": "array", "items": {"type": "number"}, "minItems": 1}
        return {
            "title": mapping.pop("title"),
            "description": mapping.pop("description"),
            "anyOf": [{"type": "number"}, shorthand, mapping],
        }

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

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["lower"]}, {"required": ["upper"]}]}
    )

    lower: Bound | None = Field(
        None,
        description="The smallest valid value: a number, one per element, or a `Bound`.",
        examples=[0, {"value": 0, "open": True}],
    )
    upper: Bound | None = Field(
        None,
        description="The largest valid value: a number, one per element, or a `Bound`.",
        examples=[90, [1, 1, 1]],
    )
    unit: UnitText | None = Field(
        None,
        description="The unit of both bounds (a bound's own `unit` wins); unset: the input's.",
        examples=["deg"],
    )
    description: str = Field(
        "",
        description="Free text: where the bounds come from (shown with the domain).",
        examples=["the range of the training data"],
    )

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

    name: str = Field(
        pattern=_IDENTIFIER,
        description="The name in requests and answers: a letter or `_`, then letters, digits "
        "or `_` (64 at most); unique across inputs and outputs.",
        examples=["speed"],
    )
    unit: UnitText = Field(
        description="The unit the model reads (input) or writes (output) it in, in the unit "
        "grammar; a client may send or ask for any unit of the same dimension.",
        examples=["m/s", "kg*m^2/s^2"],
    )
    shape: list[int] = Field(
        default_factory=list,
        max_length=8,
        description="Its shape in one row: `[]`, one number per row; `[3]`, three numbers.",
        examples=[[3]],
        json_schema_extra=_dims_at_least_one,
    )
    description: str = Field(
        "",
        description="Free text for clients (`GET /v1/models/{name}`).",
        examples=["launch speed"],
    )
    domain: DomainSpec | None = Field(
        None,
        description="Inputs only: where the model is valid (flagged or refused outside).",
        examples=[{"lower": 0, "upper": 90, "unit": "deg"}],
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

    name: str = Field(
        min_length=1,
        description="The architecture to build: one of the architectures the server knows.",
        examples=["pi_group_mlp"],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Its parameters; each architecture refuses a parameter it does not take.",
        examples=[{"in_features": 2, "out_features": 1, "hidden": [32, 32]}],
    )


class WeightsSpec(_Strict):
    """A weights file next to the manifest, in a format the server knows how to read safely."""

    file: str = Field(
        min_length=1,
        description="The file, relative to the manifest's folder (never outside it).",
        examples=["weights.safetensors"],
        json_schema_extra=_inside_folder,
    )
    format: Literal["safetensors", "state_dict", "torchscript"] = Field(
        description="`safetensors`; `state_dict` (a `torch.save`d dict of tensors, read with "
        "`weights_only=True`); `torchscript` (trusted repositories only).",
        examples=["safetensors"],
    )
    sha256: str | None = Field(
        None,
        description="The file's SHA-256 (64 hexadecimal characters): the file is refused "
        "unless it matches.",
        examples=["086a926055168239c9b80ea32c17c219f17bae0397e6d7a074a8e3f04e448781"],
        json_schema_extra=_hex_any_case,
    )

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

    name: str = Field(
        pattern=_SLUG,
        description="The model's name, in URLs; the name of its folder. A letter or digit, "
        "then letters, digits, `_`, `.` or `-` (64 at most).",
        examples=["projectile"],
    )
    version: str = Field(
        pattern=_SLUG,
        description="The version label, the name of its folder; a YAML integer is read as "
        "its text. Integers order numerically, before other labels.",
        examples=["1", "2024-06"],
        json_schema_extra=_label_or_count,
    )
    description: str = Field(
        "",
        description="Free text for clients (`GET /v1/models/{name}`): what the model "
        "computes, where it is valid, how it was made.",
        examples=["Drag-free projectile launched from flat ground"],
    )
    inputs: list[TensorSpec] = Field(
        min_length=1,
        description="What a request gives, in the order the architecture reads them.",
        examples=[[{"name": "speed", "unit": "m/s"}]],
    )
    outputs: list[TensorSpec] = Field(
        min_length=1,
        description="What an answer gives, in the order the architecture writes them.",
        examples=[[{"name": "range", "unit": "m"}]],
    )
    architecture: ArchitectureSpec = Field(
        description="The module the server builds for this version.",
        examples=[{"name": "projectile"}],
    )
    weights: WeightsSpec | None = Field(
        None,
        description="Its trained parameters; none for an architecture without weights.",
        examples=[{"file": "weights.safetensors", "format": "safetensors"}],
    )
    domain_policy: DomainPolicy | None = Field(
        None,
        description="Outside an input's domain: flag the rows, refuse the request, or "
        "ignore the domain; unset: the server's DOMAIN_POLICY.",
        examples=["refuse"],
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
