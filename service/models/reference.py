"""The ``model.yaml`` reference, written from the models that read it.

Two checked-in files follow :mod:`service.models.manifest` and the built-in architectures of
:mod:`service.models.architectures`, so neither can drift from what the server accepts:

- ``docs/model-manifest.schema.json``: the JSON Schema of a manifest (pydantic's, plus each
  built-in architecture's ``params`` under its name), for editors and CI linters;
- the field tables of ``docs/models.md`` between ``<!-- manifest fields: start -->`` and
  ``<!-- manifest fields: end -->``, and the architecture tables between
  ``<!-- architectures: start -->`` and ``<!-- architectures: end -->``.

A field or a built-in architecture without a description is refused here: the reference has a
line for every field.

``python -m service.models.reference`` rewrites both (``make generate``); with ``--check`` it
writes nothing and exits 1 when one is stale (``tests/test_generated.py``).
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from service.models.architectures import ArchitectureParams, builtin_architectures
from service.models.manifest import (
    ArchitectureSpec,
    Bound,
    DomainSpec,
    ModelManifest,
    TensorSpec,
    WeightsSpec,
)

__all__ = [
    "DOCS",
    "PARTS",
    "SCHEMA",
    "architecture_tables",
    "field_tables",
    "main",
    "manifest_schema",
    "render_docs",
]

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "model-manifest.schema.json"
DOCS = ROOT / "docs" / "models.md"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The parts of a manifest, in the order the reference lists them (the file first).
PARTS: tuple[type[BaseModel], ...] = (
    ModelManifest,
    TensorSpec,
    DomainSpec,
    Bound,
    ArchitectureSpec,
    WeightsSpec,
)
FIELDS_BLOCK = ("<!-- manifest fields: start -->", "<!-- manifest fields: end -->")
ARCHITECTURES_BLOCK = ("<!-- architectures: start -->", "<!-- architectures: end -->")


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of ``model.yaml``: an architecture the server defines gets its own
    ``params`` checked (an unknown name leaves ``params`` an open mapping)."""
    schema = ModelManifest.model_json_schema()
    defs = schema["$defs"]
    conditions = []
    for name, params in builtin_architectures().items():
        params_schema = params.model_json_schema()
        if "$defs" in params_schema:  # every definition lives at the top, once
            defs.update(params_schema.pop("$defs"))
        defs[params.__name__] = params_schema
        then: dict[str, Any] = {"properties": {"params": {"$ref": f"#/$defs/{params.__name__}"}}}
        if params_schema.get("required"):
            then["required"] = ["params"]
        conditions.append(
            {"if": {"properties": {"name": {"const": name}}, "required": ["name"]}, "then": then}
        )
    defs[ArchitectureSpec.__name__]["allOf"] = conditions
    return {"$schema": DIALECT, **schema}


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"


def _sentence(text: str | None) -> str:
    """A docstring or description as one Markdown line (reST literals as Markdown's)."""
    return " ".join((text or "").split()).replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _literal(value: Any) -> str:
    """A value as YAML flow text (JSON is YAML), in backticks."""
    return f"`{json.dumps(value, ensure_ascii=False, separators=(', ', ': '))}`"


def _anchor(part: str) -> str:
    return f"[{part}](#{part.lower()})"


def describe_type(prop: Mapping[str, Any]) -> str:
    """A JSON Schema property in a few words ("list of TensorSpec, at least 1")."""
    if "$ref" in prop:
        return _anchor(prop["$ref"].rsplit("/", 1)[-1])
    if "anyOf" in prop:
        kinds = [describe_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds)
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    limits: list[str] = []
    if kind == "array":
        text = f"list of {_plural(describe_type(prop.get('items', {})))}"
        limits += [f"at least {prop['minItems']}"] if "minItems" in prop else []
        limits += [f"at most {prop['maxItems']}"] if "maxItems" in prop else []
    elif kind == "object":
        text = "mapping"
    elif kind == "string":
        text = "string"
        if "pattern" in prop:
            limits.append(f"matching `{prop['pattern']}`")
        if "maxLength" in prop:
            limits.append(f"{prop.get('minLength', 0)}..{prop['maxLength']} characters")
        elif prop.get("minLength") == 1:
            limits.append("not empty")
    else:
        text = str(kind)
        if "minimum" in prop and "maximum" in prop:
            limits.append(f"{prop['minimum']}..{prop['maximum']}")
        else:
            signs = {
                "minimum": ">=",
                "exclusiveMinimum": ">",
                "maximum": "<=",
                "exclusiveMaximum": "<",
            }
            limits += [f"{sign} {prop[key]}" for key, sign in signs.items() if key in prop]
    return ", ".join([text, *limits])


def _plural(kind: str) -> str:
    head, _, rest = kind.partition(",")
    if head in ("number", "integer", "string", "boolean", "mapping"):
        head += "s"
    elif head.startswith("list of "):
        head = "lists" + head.removeprefix("list")
    return head + ("," + rest if rest else "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    return "unset" if value is None else _literal(value)


def _meaning(owner: str, name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(
            f"{owner}.{name} has no description: the manifest reference needs one per field "
            "(Field(description=...))"
        )
    return _sentence(field.description)


def _where(part: type[BaseModel], schema: Mapping[str, Any]) -> str:
    """Which fields of which parts hold ``part`` ("" for the file itself)."""
    target = f"#/$defs/{part.__name__}"
    owners = [(ModelManifest.__name__, schema), *schema["$defs"].items()]
    found = [
        f"`{field}` of {_anchor(owner)}"
        for owner, owner_schema in owners
        for field, prop in owner_schema.get("properties", {}).items()
        if target in json.dumps(prop)
    ]
    return "In: " + ", ".join(found) + "." if found else ""


def field_tables(schema: Mapping[str, Any] | None = None) -> str:
    """Markdown: per part, a heading, where it sits, what it is, one row per field."""
    schema = manifest_schema() if schema is None else schema
    out: list[str] = []
    for part in PARTS:
        part_schema = schema if part is ModelManifest else schema["$defs"][part.__name__]
        properties = part_schema.get("properties") or next(
            p["properties"] for p in part_schema["anyOf"] if "properties" in p
        )
        out += ["", f"### {part.__name__}", ""]
        where = _where(part, schema)
        out += [f"{where} {_sentence(part.__doc__)}".strip(), ""]
        out += ["| Field | Type | Default | Meaning | Example |", "|---|---|---|---|---|"]
        for name, field in part.model_fields.items():
            examples = ", ".join(_literal(e) for e in field.examples or [])
            row = (
                f"`{name}`",
                describe_type(properties[name]),
                _default(field),
                _meaning(part.__name__, name, field),
                examples,
            )
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(out).strip("\n")


def architecture_tables(
    architectures: Mapping[str, type[ArchitectureParams]] | None = None,
) -> str:
    """Markdown: per built-in architecture, what it computes, whether it has weights, and
    one row per parameter."""
    architectures = builtin_architectures() if architectures is None else architectures
    out: list[str] = []
    for name, params in architectures.items():
        if not params.__doc__:
            raise ValueError(f"architecture {name!r} ({params.__name__}) has no docstring")
        weights = "needs `weights`" if params.has_weights else "takes no `weights` (analytic)"
        out += ["", f"### `{name}`", "", f"{_sentence(inspect.cleandoc(params.__doc__))}", ""]
        properties = params.model_json_schema().get("properties", {})
        if not properties:
            out += [f"No parameters; {weights}."]
            continue
        out += [f"Parameters ({params.__name__}); {weights}.", ""]
        out += ["| Parameter | Type | Default | Meaning |", "|---|---|---|---|"]
        for field_name, field in params.model_fields.items():
            row = (
                f"`{field_name}`",
                describe_type(properties[field_name]),
                _default(field),
                _meaning(name, field_name, field),
            )
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(out).strip("\n")


def _replace(text: str, block: tuple[str, str], body: str) -> str:
    start, end = block
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render_docs(text: str) -> str:
    """``docs/models.md`` with both generated blocks replaced."""
    text = _replace(text, FIELDS_BLOCK, field_tables())
    return _replace(text, ARCHITECTURES_BLOCK, architecture_tables())


def main(argv: Sequence[str] = ()) -> int:
    wanted = {SCHEMA: schema_text(), DOCS: render_docs(DOCS.read_text(encoding="utf-8"))}
    if "--check" in argv:
        stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text("utf-8") != text]
        for path in stale:
            print(f"{path} is stale: run `make generate`")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
