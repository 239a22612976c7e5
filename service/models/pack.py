"""Pack a trained module into a repository version: the way a user's model reaches ``/predict``.

``pack`` takes the weights (a module or a state dict), an architecture the server knows (its
own, or one an installed package offers) with its params, and a signature: each input's and
output's unit, from text, from a ``TensorSpec``-like mapping, or from a ``DimArray`` example
batch. ``pack_package`` takes the signature and the weights from a dimtensor
``DimModelPackage`` folder instead. Both write through
:func:`service.models.publish.publish_version`: the version is loaded back with the server's
own loader and an example is run through the server's own prediction path (the core, with
units) before it is renamed into place. So every refusal is the server's own wording (a
weight that does not fit the architecture, a unit the grammar cannot read, a dimension the
architecture cannot take), raised as :class:`PackError`, and nothing is left behind.

A package's ``weights.pt`` is read only with ``torch.load(weights_only=True)``; a pickled
model (``model.pkl``, dimtensor's numpy format) is refused, because unpickling runs code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
from dimtensor import DimArray, Dimension
from dimtensor.hub.cards import ModelCard

from service.client._quantities import encode_input
from service.dataplane import DataPlane, PredictRequest, QuantityIn
from service.errors import ManifestError, ServiceError, UnitError
from service.models.publish import publish_version, weights_of
from service.models.repository import ModelRepository, ModelStatus
from service.models.runtime import LoadedModel
from service.models.weights import read_state_dict
from service.units import ParsedUnit, dimension_text, parse_unit, same_dimension

__all__ = [
    "EXAMPLE_ROWS",
    "PACKAGE_CARD",
    "PACKAGE_CONFIG",
    "PACKAGE_PICKLE",
    "PACKAGE_WEIGHTS",
    "PackError",
    "Signature",
    "pack",
    "pack_package",
]

Signature: TypeAlias = Mapping[str, str | Mapping[str, Any] | DimArray]
"""Tensor name -> its unit text (``"m/s"``), a mapping of ``TensorSpec`` fields
(``{"unit": "m", "shape": [3]}``), or a ``DimArray`` example batch (the unit is the array's,
the per-row shape its shape after the first axis); in the order the architecture reads or
writes them."""

EXAMPLE_ROWS = 2
"""Rows of ones in the example when none is given (and no input is a DimArray)."""

PACKAGE_CARD = "model_card.json"
PACKAGE_CONFIG = "config.json"
PACKAGE_WEIGHTS = "weights.pt"
PACKAGE_PICKLE = "model.pkl"

_SOURCE = "dimtensor-serve pack"


class PackError(ManifestError):
    """A version that pack refuses to write: what was wrong, expected and received. A
    manifest error too, since what is refused is the model version it would be."""


def pack(
    repository: str | Path,
    name: str,
    *,
    architecture: str,
    params: Mapping[str, Any] | None = None,
    weights: torch.nn.Module | Mapping[str, torch.Tensor] | None = None,
    inputs: Signature,
    outputs: Signature,
    description: str = "",
    example: Mapping[str, Any] | None = None,
    domain_policy: str | None = None,
) -> Path:
    """Write `weights` as the next version of `name` in `repository`; returns its folder.

    Args:
        architecture: the architecture's name (built in, or offered by an installed package).
        params: its parameters (``architecture.params`` of the manifest).
        weights: a module (its state dict is written) or a state dict; None for an
            architecture without trained parameters.
        inputs, outputs: the signature (:data:`Signature`).
        example: input name -> a ``DimArray`` (converted to the input's unit) or plain
            numbers in the input's unit, rows first. Default: the ``DimArray`` inputs of the
            signature, the others ones; without any, :data:`EXAMPLE_ROWS` rows of ones.
        domain_policy: the manifest's ``domain_policy`` (unset: the server's).

    Raises:
        PackError: the version would be refused by the server, or the example gives no
            finite answer of the declared shapes; nothing is written.
    """
    in_specs, batches = _signature("input", inputs)
    out_specs, _ = _signature("output", outputs)
    document: dict[str, Any] = {
        "description": description,
        "inputs": in_specs,
        "outputs": out_specs,
        "architecture": {"name": architecture, "params": dict(params or {})},
    }
    if domain_policy is not None:
        document["domain_policy"] = domain_policy
    tensors = _tensors(weights)

    def run_example(loaded: LoadedModel) -> None:
        given = None if example is None else {n: _quantity(n, v) for n, v in example.items()}
        _run_example(loaded, given if given is not None else _default_example(loaded, batches))

    try:
        return publish_version(
            Path(repository), name, tensors, document, source=_SOURCE, check=run_example
        )
    except PackError:
        raise
    except ManifestError as exc:
        raise PackError(exc.message, **exc.details) from exc


def pack_package(
    repository: str | Path,
    name: str,
    folder: str | Path,
    *,
    architecture: str,
    params: Mapping[str, Any] | None = None,
    units: Mapping[str, str] | None = None,
    description: str | None = None,
    example: Mapping[str, Any] | None = None,
    domain_policy: str | None = None,
) -> Path:
    """Pack a dimtensor ``DimModelPackage`` folder (``model_card.json``, ``config.json``,
    ``weights.pt``) as the next version of `name`; returns its folder.

    The signature comes from the card's ``input_dims`` and ``output_dims``, each tensor one
    number per row in the coherent SI unit of its dimension (``kg*m^2*s^-2``) unless `units`
    names another unit of that dimension for it (``{"speed": "km/h"}``: the unit the
    weights were trained in). The description defaults to the card's. The package's
    ``architecture.json`` names a Python class; it is never imported: `architecture` names
    the one the server builds.

    Raises:
        PackError: the folder is not a PyTorch package (another framework, a pickled
            model), a unit override is unreadable, of another dimension or names no tensor
            of the card, or :func:`pack` refuses the version.
    """
    folder = Path(folder)
    card = _read_card(folder)
    weights = _read_package_weights(folder)
    overrides = dict(units or {})
    declared = [*card.info.input_dims, *card.info.output_dims]
    unknown = [n for n in overrides if n not in declared]
    if unknown:
        raise PackError(
            f"units: {unknown[0]!r} is not a tensor of the package's model card; expected "
            f"one of {declared}",
            tensor=unknown[0],
            expected=declared,
        )
    return pack(
        repository,
        name,
        architecture=architecture,
        params=params,
        weights=weights,
        inputs=_card_signature("input", card.info.input_dims, overrides),
        outputs=_card_signature("output", card.info.output_dims, overrides),
        description=card.info.description if description is None else description,
        example=example,
        domain_policy=domain_policy,
    )


def _signature(
    side: str, signature: Signature
) -> tuple[list[dict[str, Any]], dict[str, QuantityIn]]:
    """The manifest's tensor entries, and each DimArray example batch as values with the
    unit text the grammar reads (the array's own unit when the grammar reads it as the
    same unit, else coherent SI)."""
    specs: list[dict[str, Any]] = []
    batches: dict[str, QuantityIn] = {}
    for name, value in signature.items():
        if isinstance(value, DimArray):
            batches[name] = _quantity(name, value)
            unit, shape = batches[name].unit, np.shape(batches[name].value)[1:]
            specs.append({"name": name, "unit": unit, "shape": list(shape)})
        elif isinstance(value, str):
            specs.append({"name": name, "unit": value})
        elif isinstance(value, Mapping):
            if value.get("name", name) != name:
                raise PackError(
                    f"{side} {name!r}: its mapping names it {value['name']!r}; expected no "
                    "'name' or the same one",
                    tensor=name,
                )
            specs.append({"name": name, **value})
        else:
            raise PackError(
                f"{side} {name!r}: expected unit text, a mapping of TensorSpec fields or a "
                f"DimArray, received {type(value).__name__}",
                tensor=name,
                received=type(value).__name__,
            )
    return specs, batches


def _tensors(
    weights: torch.nn.Module | Mapping[str, torch.Tensor] | None,
) -> dict[str, torch.Tensor] | None:
    if weights is None:
        return None
    if isinstance(weights, torch.nn.Module):
        return weights_of(weights)
    if not isinstance(weights, Mapping):
        raise PackError(
            "weights: expected a torch.nn.Module or a mapping of names to tensors, received "
            f"{type(weights).__name__}",
            received=type(weights).__name__,
        )
    for key, value in weights.items():
        if not (isinstance(key, str) and isinstance(value, torch.Tensor)):
            raise PackError(
                f"weights: entry {key!r} is {type(key).__name__} -> {type(value).__name__}, "
                "expected a name (str) -> a tensor",
                received=type(value).__name__,
            )
    return dict(weights)


def _quantity(name: str, value: Any) -> QuantityIn:
    """An example value: a DimArray with its unit's text, plain numbers in the input's unit."""
    if isinstance(value, DimArray):
        return QuantityIn(*encode_input(name, value))
    return QuantityIn(value, None)


def _default_example(
    loaded: LoadedModel, batches: Mapping[str, QuantityIn]
) -> dict[str, QuantityIn]:
    """The DimArray inputs of the signature; every other input ones, as many rows as the
    first DimArray has (else EXAMPLE_ROWS)."""
    rows = next((len(q.value) for q in batches.values() if np.ndim(q.value) > 0), EXAMPLE_ROWS)
    return {
        spec.name: batches.get(spec.name) or QuantityIn(np.ones((rows, *spec.shape)), None)
        for spec in loaded.manifest.inputs
    }


def _run_example(loaded: LoadedModel, example: Mapping[str, QuantityIn]) -> None:
    """Run `example` through the server's own prediction path (names, units, dimensions,
    shapes, finite values in and out) over the loaded version alone; the manifest's
    ``domain_policy`` applies, else rows outside a domain are only flagged."""
    manifest = loaded.manifest
    status = ModelStatus(manifest.name, manifest.version, "ready", manifest=manifest)
    core = DataPlane(ModelRepository({(loaded.name, loaded.version): loaded}, [status]))
    request = PredictRequest(example, loaded.name, loaded.version, protocol="pack")
    try:
        core.predict(request)
    except ServiceError as exc:
        raise PackError(
            f"the example run through model {loaded.name!r} was refused: {exc.message}",
            **exc.details,
        ) from exc


def _read_card(folder: Path) -> ModelCard:
    """The package's model card, after refusing what would run code or is not PyTorch."""
    if not folder.is_dir():
        raise PackError(
            f"package {folder}: not a folder; expected a DimModelPackage folder with "
            f"{PACKAGE_CARD}, {PACKAGE_CONFIG} and {PACKAGE_WEIGHTS}",
            path=str(folder),
        )
    if (folder / PACKAGE_PICKLE).exists():
        raise PackError(
            f"package {folder}: holds {PACKAGE_PICKLE}, a pickled model; refused, because "
            "unpickling runs code from the file. Expected a PyTorch package: a state dict in "
            f"{PACKAGE_WEIGHTS}",
            path=str(folder),
        )
    config = _read_json(folder / PACKAGE_CONFIG)
    framework = config.get("framework")
    if framework != "pytorch":
        raise PackError(
            f"package {folder}: framework {framework!r}; expected 'pytorch' (a state dict in "
            f"{PACKAGE_WEIGHTS}, read without running code: other frameworks' files are "
            "pickles or need code the server does not have)",
            path=str(folder),
            expected="pytorch",
            received=str(framework),
        )
    doc = _read_json(folder / PACKAGE_CARD)
    try:
        return ModelCard.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PackError(
            f"package {folder}: {PACKAGE_CARD} is not a dimtensor model card "
            f"({type(exc).__name__}: {exc}); expected info.name, info.input_dims and "
            "info.output_dims",
            path=str(folder),
        ) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PackError(
            f"package {path.parent}: {path.name} cannot be read as JSON ({exc}); expected the "
            "file DimModelPackage.save writes",
            path=str(path),
        ) from None
    if not isinstance(doc, dict):
        raise PackError(
            f"package {path.parent}: {path.name} holds {type(doc).__name__}; expected a JSON "
            "object",
            path=str(path),
        )
    return doc


def _read_package_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / PACKAGE_WEIGHTS
    if not path.is_file():
        raise PackError(
            f"package {folder}: no {PACKAGE_WEIGHTS}; expected the state dict "
            "DimModelPackage.save writes for a PyTorch model",
            path=str(folder),
        )
    try:
        return read_state_dict(path, "state_dict")  # torch.load(weights_only=True)
    except ManifestError as exc:
        raise PackError(f"package {folder}: {exc.message}", **exc.details) from exc


def _card_signature(
    side: str, dims: Mapping[str, Dimension], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Each tensor's unit: the override, checked against the card's dimension, else the
    coherent SI unit of that dimension."""
    signature: dict[str, str] = {}
    for name, dim in dims.items():
        si = ParsedUnit(expression="1", dimension=dim, scale=1.0).si_expression
        text = overrides.get(name)
        if text is None:
            signature[name] = si
            continue
        try:
            unit = parse_unit(text)
        except UnitError as exc:
            raise PackError(
                f"units: {side} {name!r}: {exc.message}", **exc.details, tensor=name
            ) from None
        if not same_dimension(unit.dimension, dim):
            want, got = dimension_text(dim), dimension_text(unit.dimension)
            raise PackError(
                f"units: {side} {name!r} has dimension {want} in the package's model card; "
                f"expected a unit of that dimension (such as {si!r}), received {text!r} ({got})",
                tensor=name,
                expected=want,
                received=got,
            )
        signature[name] = text
    return signature
