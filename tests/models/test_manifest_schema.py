"""The checked-in JSON Schema of ``model.yaml`` (docs/model-manifest.schema.json), read by a
real JSON Schema validator as an editor would read it: it is a valid draft 2020-12 schema,
every manifest the project ships passes it, and on a table of manifests it gives the server's
own verdict (the manifest's pydantic models and a built-in architecture's params model);
where it cannot judge (checks across fields) it accepts and the server refuses."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from service.errors import ManifestError
from service.models.architectures import ArchitectureParams, builtin_architectures
from service.models.manifest import ModelManifest, load_manifest
from service.models.reference import PARTS, SCHEMA, architecture_tables
from tests.support.models import mlp_manifest, projectile_manifest
from tests.support.paths import REPO

SCHEMA_DOC: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
VALIDATOR = jsonschema_rs.validator_for(SCHEMA_DOC)


def schema_errors(document: Any) -> list[str]:
    return [f"{e.instance_path}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def server_accepts(document: dict[str, Any]) -> bool:
    """What the server's manifest models say of the text (no units, weights or widths)."""
    try:
        manifest = ModelManifest.model_validate(document)
        params = builtin_architectures().get(manifest.architecture.name)
        if params is not None:
            params.model_validate(manifest.architecture.params)
    except ValidationError:
        return False
    return True


def test_the_schema_is_a_draft_2020_12_schema() -> None:
    assert SCHEMA_DOC["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert jsonschema_rs.meta.is_valid(SCHEMA_DOC)


# --- every manifest the project ships ------------------------------------------------------


def _chart_manifests(values: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``modelRepository.manifests`` items as the chart mounts them (name, version filled in)."""
    document = yaml.safe_load(values.read_text(encoding="utf-8")) or {}
    for item in (document.get("modelRepository") or {}).get("manifests") or []:
        manifest = {**item["manifest"], "name": item["name"], "version": item["version"]}
        yield f"{values.relative_to(REPO)}:{item['name']}/{item['version']}", manifest


def _annotated_manifest() -> dict[str, Any]:
    """The annotated manifest of docs/models.md."""
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "architecture:" in b]
    document: dict[str, Any] = yaml.safe_load(block)
    return document


def shipped_manifests() -> list[tuple[str, dict[str, Any]]]:
    found = [
        (str(path.relative_to(REPO)), yaml.safe_load(path.read_text(encoding="utf-8")))
        for folder in ("service/models/defaults", "examples", "deploy")
        for path in sorted((REPO / folder).rglob("model.yaml"))
    ]
    for values in sorted((REPO / "deploy").rglob("*.yaml")):
        template = "templates" in values.parts
        if not template and "modelRepository:" in values.read_text(encoding="utf-8"):
            found += _chart_manifests(values)
    return [*found, ("docs/models.md (annotated)", _annotated_manifest())]


SHIPPED = shipped_manifests()


def test_the_shipped_manifests_are_found() -> None:
    names = {where for where, _ in SHIPPED}
    assert "service/models/defaults/pendulum/1/model.yaml" in names
    assert "service/models/defaults/projectile/1/model.yaml" in names
    assert any(n.startswith("deploy/helm/dimtensor/ci/") for n in names), names


@pytest.mark.parametrize(("where", "document"), SHIPPED, ids=[w for w, _ in SHIPPED])
def test_every_shipped_manifest_passes_the_schema_and_the_server(
    where: str, document: dict[str, Any]
) -> None:
    assert schema_errors(document) == []
    assert server_accepts(document), where


def _examples(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any], Any]]:
    if isinstance(node, dict):
        for example in node.get("examples", []):
            yield path, node, example
        for key, child in node.items():
            yield from _examples(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _examples(child, f"{path}/{i}")


EXAMPLES = list(_examples(SCHEMA_DOC))


@pytest.mark.parametrize(
    ("path", "subschema", "example"), EXAMPLES, ids=[f"{p}:{e!r}"[:60] for p, _, e in EXAMPLES]
)
def test_every_example_the_reference_shows_fits_its_own_field(
    path: str, subschema: dict[str, Any], example: Any
) -> None:
    field = jsonschema_rs.validator_for({"$defs": SCHEMA_DOC["$defs"], **subschema})
    assert field.is_valid(example), path


# --- the schema's verdict is the server's --------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """Set a dotted path (list indices as numbers) of the manifest."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = document
        for part in parents:
            node = node[part]
        node[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part) if part.isdigit() else part]
        del node[last]

    return edit


SHA = "ab" * 32

# (what, base manifest, edit, accepted): the schema and the server agree on each.
AGREE: list[tuple[str, Callable[[], dict[str, Any]], Edit, bool]] = [
    ("the baseline", mlp_manifest, lambda d: None, True),
    ("an analytic model", projectile_manifest, lambda d: None, True),
    ("an unknown top-level key", mlp_manifest, _set("weigths", {}), False),
    ("an unknown key of an input", mlp_manifest, _set("inputs.0.units", "m"), False),
    ("an unknown key of a domain", mlp_manifest, _set("inputs.0.domain", {"low": 0}), False),
    (
        "an unknown key of a bound",
        mlp_manifest,
        _set("inputs.0.domain", {"lower": {"v": 0}}),
        False,
    ),
    ("an unknown key of the weights", mlp_manifest, _set("weights.path", "w"), False),
    ("an unknown key of the architecture", mlp_manifest, _set("architecture.kind", "x"), False),
    ("an unknown mlp parameter", mlp_manifest, _set("architecture.params.dropout", 0.1), False),
    ("a misspelt mlp parameter", mlp_manifest, _set("architecture.params.hiden", [4]), False),
    ("an mlp without params", mlp_manifest, _drop("architecture.params"), False),
    (
        "a parameter of the wrong type",
        mlp_manifest,
        _set("architecture.params.hidden", "wide"),
        False,
    ),
    (
        "an unknown activation",
        mlp_manifest,
        _set("architecture.params.activation", "sigmoid"),
        False,
    ),
    (
        "params for the analytic projectile",
        projectile_manifest,
        _set("architecture.params", {"x": 1}),
        False,
    ),
    (
        "an architecture of a name the schema does not know",
        mlp_manifest,
        _set("architecture.name", "mine"),
        True,
    ),
    ("inputs as a string", mlp_manifest, _set("inputs", "a"), False),
    ("no inputs", mlp_manifest, _set("inputs", []), False),
    ("no architecture", mlp_manifest, _drop("architecture"), False),
    ("a unit as a number", mlp_manifest, _set("inputs.0.unit", 5), False),
    ("an empty unit", mlp_manifest, _set("inputs.0.unit", ""), False),
    ("a tensor name with a dash", mlp_manifest, _set("inputs.0.name", "a-b"), False),
    ("a model name with a space", mlp_manifest, _set("name", "my model"), False),
    ("an integer version", mlp_manifest, _set("version", 7), True),
    ("a negative version", mlp_manifest, _set("version", -1), False),
    ("a boolean version", mlp_manifest, _set("version", True), False),
    ("a dimension of 0", mlp_manifest, _set("inputs.1.shape", [0]), False),
    ("a shape as a string", mlp_manifest, _set("inputs.1.shape", "2"), False),
    ("nine dimensions", mlp_manifest, _set("inputs.1.shape", [1] * 9), False),
    ("a bare-number domain", mlp_manifest, _set("inputs.0.domain", {"lower": 0, "upper": 1}), True),
    ("a per-element domain", mlp_manifest, _set("inputs.1.domain", {"upper": [1, 2]}), True),
    ("a domain without bounds", mlp_manifest, _set("inputs.0.domain", {"unit": "km"}), False),
    ("an empty per-element bound", mlp_manifest, _set("inputs.1.domain", {"lower": []}), False),
    ("a bound as text", mlp_manifest, _set("inputs.0.domain", {"lower": "zero"}), False),
    ("an unknown domain policy", mlp_manifest, _set("domain_policy", "strict"), False),
    ("a digest in capitals", mlp_manifest, _set("weights.sha256", SHA.upper()), True),
    ("a short digest", mlp_manifest, _set("weights.sha256", "ab" * 31), False),
    ("an unknown weights format", mlp_manifest, _set("weights.format", "pickle"), False),
    ("a weights file in a subfolder", mlp_manifest, _set("weights.file", "w/model.st"), True),
    ("an absolute weights file", mlp_manifest, _set("weights.file", "/etc/passwd"), False),
    ("a weights file up a folder", mlp_manifest, _set("weights.file", "../x/w.st"), False),
    ("a weights file on a drive", mlp_manifest, _set("weights.file", "C:w.st"), False),
    ("a UNC weights file", mlp_manifest, _set("weights.file", "\\\\host\\share\\w"), False),
    ("a name with dots", mlp_manifest, _set("weights.file", "..w.st"), True),
]


@pytest.mark.parametrize(
    ("base", "edit", "accepted"), [a[1:] for a in AGREE], ids=[a[0] for a in AGREE]
)
def test_the_schema_gives_the_servers_verdict(
    base: Callable[[], dict[str, Any]], edit: Edit, accepted: bool
) -> None:
    document = copy.deepcopy(base())
    edit(document)
    assert server_accepts(document) is accepted
    assert (schema_errors(document) == []) is accepted, schema_errors(document)


# Checks across fields, which a JSON Schema of this shape cannot make: the schema accepts, the
# server refuses when it reads the manifest (docs/models.md, "What is checked, and when").
ACROSS: list[tuple[str, Edit, str]] = [
    ("an input and an output of one name", _set("outputs.0.name", "a"), "duplicate tensor name"),
    ("a domain on an output", _set("outputs.0.domain", {"lower": 0}), "declares a domain"),
    (
        "bounds for the wrong element count",
        _set("inputs.1.domain", {"lower": [0, 0, 0]}),
        "per-element",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [a[1:] for a in ACROSS], ids=[a[0] for a in ACROSS])
def test_checks_across_fields_are_the_servers(edit: Edit, message: str, tmp_path: Path) -> None:
    document = mlp_manifest()
    edit(document)
    assert schema_errors(document) == []
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


# --- the reference has a line for every field ----------------------------------------------


@pytest.mark.parametrize("part", PARTS, ids=[p.__name__ for p in PARTS])
def test_every_field_of_every_part_is_in_the_reference(part: type[BaseModel]) -> None:
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    section = text.split(f"### {part.__name__}\n", 1)[1].split("\n### ", 1)[0]
    for name, field in part.model_fields.items():
        assert field.description, f"{part.__name__}.{name}"
        assert f"| `{name}` |" in section, f"{part.__name__}.{name}"


@pytest.mark.parametrize("name", sorted(builtin_architectures()))
def test_every_builtin_architecture_and_parameter_is_in_the_reference(name: str) -> None:
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
    for parameter in builtin_architectures()[name].model_fields:
        assert f"| `{parameter}` |" in section, f"{name}.{parameter}"


def test_an_undocumented_parameter_stops_the_reference() -> None:
    class Undocumented(ArchitectureParams):
        """Documented itself; its parameter is not."""

        width: int = 3

    with pytest.raises(ValueError, match=r"mine\.width has no description"):
        architecture_tables({"mine": Undocumented})


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    headings = re.findall(r"^#+ (.+)$", prose, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_link_of_the_reference_leads_somewhere() -> None:
    page = REPO / "docs" / "models.md"
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.is_file(), link
        if anchor:
            assert anchor in _anchors(path.read_text(encoding="utf-8")), link
