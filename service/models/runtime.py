"""A model ready to answer: manifest checked, units parsed, weights loaded, forward pass warmed.

:func:`load_model` runs every check that needs more than the manifest text, in the order a model
author would fix them (units, architecture, widths, dimensions, weights, forward pass), and
prefixes each message with the model and version. :meth:`LoadedModel.predict` works on plain
numpy arrays in the model's declared units; unit conversion belongs to the core, not here.

A model computes in one dtype, :attr:`LoadedModel.dtype`: its weights' (float32 for the
architectures the server defines; float64 for a TorchScript module with float64 weights;
float32, torch's default, for an analytic module without any). Inputs are handed to the
module in it and results come back in it, so every door can declare and render the
precision the model really has (a float32 result is not widened into float64 digits it
never had).

A model computes on one device, :attr:`LoadedModel.device`, chosen once for the process by
:func:`resolve_device` (``MODEL_DEVICE``): the module moves there at load, each batch moves
there for the forward pass and its result comes back to numpy on the CPU, so nothing outside
this module knows which device answered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from service.errors import ManifestError, ShapeError, UnitError
from service.models.architectures import (
    ArchitectureParams,
    TorchScriptParams,
    resolve_architecture,
)
from service.models.domains import ModelDomain, build_domain
from service.models.manifest import MANIFEST_FILENAME, ModelManifest, TensorSpec, load_manifest
from service.models.weights import (
    check_sha256,
    load_state_dict_into,
    load_torchscript,
    read_state_dict,
    resolve_weights_path,
)
from service.tensors import ModelArray
from service.units import ParsedUnit, parse_unit

__all__ = [
    "COMPUTE_DTYPES",
    "WARMUP_ROWS",
    "DeviceChoice",
    "LoadedModel",
    "ModelArray",
    "compute_dtype",
    "load_model",
    "resolve_device",
]

log = logging.getLogger("service.models")

DeviceChoice = Literal["auto", "cpu", "cuda"]
"""Where models compute: ``cuda`` when a GPU is visible (``auto``), or as named."""

WARMUP_ROWS = 2
COMPUTE_DTYPES: dict[torch.dtype, np.dtype[Any]] = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}
"""The dtypes a model may compute in, torch's to numpy's."""


def compute_dtype(module: nn.Module) -> np.dtype[Any]:
    """The dtype `module` computes in: that of its floating-point parameters (of its
    floating-point buffers when it has no parameters); float32, torch's default, for a
    module with neither (an analytic formula).

    Raises:
        ManifestError: the weights mix dtypes, or are of a dtype other than float32/float64.
    """
    found = {t.dtype for t in module.parameters() if t.is_floating_point()} or {
        t.dtype for t in module.buffers() if t.is_floating_point()
    }
    if not found:
        return COMPUTE_DTYPES[torch.float32]
    names = sorted(str(d).removeprefix("torch.") for d in found)
    if len(found) > 1:
        raise ManifestError(
            f"the module's weights mix dtypes {names}; expected one dtype, float32 or float64"
        )
    (dtype,) = found
    if dtype not in COMPUTE_DTYPES:
        raise ManifestError(f"the module's weights are {names[0]}; expected float32 or float64")
    return COMPUTE_DTYPES[dtype]


def resolve_device(choice: DeviceChoice) -> torch.device:
    """The device `choice` means on this machine: ``auto`` is CUDA when torch sees a GPU, else
    the CPU.

    Raises:
        ValueError: ``cuda`` and torch sees no GPU (a model would otherwise fail at its first
            tensor, or a GPU pod would compute on its CPU unnoticed).
    """
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
        raise ValueError(
            f"'cuda' expects a visible GPU, but torch {torch.__version__} ({build}) sees "
            "none: give the pod a nvidia.com/gpu limit on a node with the NVIDIA device plugin, "
            "or choose 'auto' (CUDA when available, else the CPU) or 'cpu'"
        )
    return torch.device("cuda")


class LoadedModel:
    """One loaded version of one model. Immutable after load and safe to share across threads."""

    def __init__(
        self,
        manifest: ModelManifest,
        module: nn.Module,
        input_units: tuple[ParsedUnit, ...],
        output_units: tuple[ParsedUnit, ...],
        architecture: ArchitectureParams,
        domain: ModelDomain | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.manifest = manifest
        # Where `module` lives (moved there by load_model) and every batch is computed.
        self.device = device or torch.device("cpu")
        # Where the model is valid, in its own units (precomputed at load: a request's
        # check is a comparison or two per input); None when no input declares a domain.
        self.domain = domain
        self.module = module
        self.input_units = input_units
        self.output_units = output_units
        self.architecture = architecture
        # The one answer to "which precision does this model have": the runtime computes
        # and returns in it, the core converts units keeping it, the doors declare it.
        self.dtype = compute_dtype(module)
        self._torch_dtype = next(t for t, n in COMPUTE_DTYPES.items() if n == self.dtype)
        self.input_sizes = tuple(spec.size for spec in manifest.inputs)
        self.output_sizes = tuple(spec.size for spec in manifest.outputs)
        self._input_shapes = tuple(tuple(spec.shape) for spec in manifest.inputs)
        # By name, in declaration order, for the doors and the core's name checks (dicts:
        # their key views compare like sets).
        self.inputs_by_name = {
            spec.name: (spec, unit) for spec, unit in zip(manifest.inputs, input_units, strict=True)
        }
        self.output_names = dict.fromkeys(spec.name for spec in manifest.outputs)
        # Every tensor a scalar per row (the usual physics signature): inputs stack into
        # columns and outputs split into rows of the transposed result, in one numpy call each.
        self._scalars = not any(self._input_shapes) and not any(s.shape for s in manifest.outputs)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def __repr__(self) -> str:
        return f"LoadedModel({self.name!r}, version={self.version!r})"

    def predict(self, inputs: Sequence[npt.ArrayLike]) -> list[ModelArray]:
        """Inputs in manifest order, each ``(rows, *spec.shape)`` in declared units; outputs alike.

        Inputs are read as float64 and handed to the module in :attr:`dtype`; the outputs
        are C-contiguous arrays of :attr:`dtype`.
        """
        specs = self.manifest.inputs
        if len(inputs) != len(specs):
            raise ShapeError(
                f"model {self.name!r} takes {len(specs)} inputs {[s.name for s in specs]}, "
                f"received {len(inputs)}",
                expected=len(specs),
                received=len(inputs),
            )
        arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
        if arrays[0].ndim == 0:
            raise ShapeError(
                f"input {specs[0].name!r}: expected an array of shape "
                f"{['rows', *specs[0].shape]}, received a scalar",
                input=specs[0].name,
                received=[],
            )
        rows = arrays[0].shape[0]
        for spec, shape, array in zip(specs, self._input_shapes, arrays, strict=True):
            if array.shape[0] != rows or array.shape[1:] != shape:
                want = [rows, *spec.shape]
                raise ShapeError(
                    f"input {spec.name!r}: expected shape {want} (rows, *per-row shape), "
                    f"received {list(array.shape)}",
                    input=spec.name,
                    expected=want,
                    received=list(array.shape),
                )
        if self._scalars:
            flat = np.array(arrays, dtype=self.dtype).T  # (rows, inputs), a strided view
        else:
            columns = [a.reshape(rows, n) for a, n in zip(arrays, self.input_sizes, strict=True)]
            flat = np.concatenate(columns, axis=1).astype(self.dtype)
        with torch.inference_mode():
            result = self.module(torch.from_numpy(flat).to(self.device))
        out = _check_output(result, rows, sum(self.output_sizes), self.manifest).cpu()
        if out.dtype != self._torch_dtype:
            raise ManifestError(
                f"forward pass returned {str(out.dtype).removeprefix('torch.')} values; the "
                f"model computes in {self.dtype} (its weights' dtype), and returns it",
                expected=str(self.dtype),
                received=str(out.dtype).removeprefix("torch."),
            )
        values = out.numpy()
        if self._scalars:
            # Rows of the C-ordered transpose are contiguous (rows,) arrays: serializers
            # (orjson's numpy support) refuse strided views.
            return list(np.array(values.T, order="C"))
        outputs: list[ModelArray] = []
        start = 0
        for spec, size in zip(self.manifest.outputs, self.output_sizes, strict=True):
            column = values[:, start : start + size].reshape(rows, *spec.shape)
            outputs.append(np.ascontiguousarray(column))
            start += size
        return outputs


def _check_output(result: object, rows: int, width: int, manifest: ModelManifest) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise ManifestError(
            f"forward pass returned {type(result).__name__}, expected one tensor "
            f"of shape [{rows}, {width}]"
        )
    if list(result.shape) != [rows, width]:
        declared = ", ".join(f"{s.name} {s.shape}" for s in manifest.outputs)
        raise ManifestError(
            f"forward pass returned shape {list(result.shape)}, the declared outputs "
            f"({declared}) need [{rows}, {width}]",
            expected=[rows, width],
            received=list(result.shape),
        )
    return result


def _parse_units(side: str, specs: Sequence[TensorSpec]) -> tuple[ParsedUnit, ...]:
    parsed = []
    for spec in specs:
        try:
            parsed.append(parse_unit(spec.unit))
        except UnitError as exc:
            raise ManifestError(
                f"{side} {spec.name!r}: unit {spec.unit!r} is not a valid unit: {exc.message}",
                tensor=spec.name,
                unit=spec.unit,
            ) from exc
    return tuple(parsed)


def _column_dimensions(specs: Sequence[TensorSpec], units: Sequence[ParsedUnit]) -> list[object]:
    return [
        unit.dimension for spec, unit in zip(specs, units, strict=True) for _ in range(spec.size)
    ]


def _build_module(
    manifest: ModelManifest,
    folder: Path,
    params: ArchitectureParams,
    trusted: bool,
    device: torch.device,
) -> nn.Module:
    """The module, its weights loaded, on `device`."""
    arch = manifest.architecture.name
    spec = manifest.weights
    if spec is None:
        if params.has_weights:
            raise ManifestError(
                f"architecture {arch!r} has trained parameters and needs a 'weights' entry; "
                "received none"
            )
        return params.build().to(device)
    if spec.format == "torchscript" and not trusted:
        raise ManifestError(
            f"weights file {spec.file!r} is TorchScript, which carries code that would run inside "
            "the server; refused because the repository is not marked trusted. Expected "
            "'safetensors' or 'state_dict' weights for a code-defined architecture",
            format=spec.format,
        )
    opaque = isinstance(params, TorchScriptParams)
    if opaque != (spec.format == "torchscript"):
        raise ManifestError(
            "weights format 'torchscript' and architecture 'torchscript' go together; "
            f"received weights format {spec.format!r} with architecture {arch!r}",
            format=spec.format,
            architecture=arch,
        )
    if not params.has_weights:
        raise ManifestError(
            f"architecture {arch!r} is analytic and takes no weights; "
            f"remove the 'weights' entry (received {spec.file!r})"
        )
    path = resolve_weights_path(folder, spec)
    if spec.sha256 is not None:
        check_sha256(path, spec.sha256)
    if opaque:
        return load_torchscript(path, device)
    module = params.build()
    load_state_dict_into(module, read_state_dict(path, spec.format), arch)
    return module.to(device)


def _load(
    manifest: ModelManifest, folder: Path, trusted: bool, device: torch.device
) -> LoadedModel:
    input_units = _parse_units("input", manifest.inputs)
    output_units = _parse_units("output", manifest.outputs)
    domain = build_domain(manifest.inputs, input_units)
    params = resolve_architecture(manifest.architecture)
    arch = manifest.architecture.name
    n_in = sum(s.size for s in manifest.inputs)
    n_out = sum(s.size for s in manifest.outputs)
    if params.widths() != (n_in, n_out):
        want_in, want_out = params.widths()
        raise ManifestError(
            f"architecture {arch!r} takes {want_in} input columns and gives {want_out} output "
            f"columns; the declared inputs have {n_in} and the declared outputs {n_out}",
            expected=[want_in, want_out],
            received=[n_in, n_out],
        )
    problems = params.dimension_problems(
        _column_dimensions(manifest.inputs, input_units),
        _column_dimensions(manifest.outputs, output_units),
    )
    if problems:
        raise ManifestError(f"architecture {arch!r}: " + "; ".join(problems), architecture=arch)
    module = _build_module(manifest, folder, params, trusted, device)
    module.eval()
    for parameter in module.parameters():  # (ScriptModules refuse module.requires_grad_)
        parameter.requires_grad_(False)
    loaded = LoadedModel(manifest, module, input_units, output_units, params, domain, device)
    warm = [np.ones((WARMUP_ROWS, *s.shape)) for s in manifest.inputs]
    try:
        loaded.predict(warm)
    except ManifestError as exc:
        raise ManifestError(f"warm-up with {WARMUP_ROWS} rows of ones: {exc.message}") from exc
    except Exception as exc:
        raise ManifestError(
            f"warm-up forward pass with {WARMUP_ROWS} rows of ones failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return loaded


def load_model(
    folder: Path,
    *,
    trusted: bool = False,
    manifest: ModelManifest | None = None,
    device: torch.device | str = "cpu",
) -> LoadedModel:
    """Load ``folder/model.yaml`` and its weights onto `device` (warmed up there); every
    refusal is a :class:`ManifestError`."""
    if manifest is None:
        manifest = load_manifest(folder / MANIFEST_FILENAME)
    try:
        loaded = _load(manifest, folder, trusted, torch.device(device))
    except ManifestError as exc:
        raise ManifestError(
            f"model {manifest.name!r} version {manifest.version!r}: {exc.message}",
            **{**exc.details, "model": manifest.name, "version": manifest.version},
        ) from exc
    log.info(
        "model %s/%s ready on %s, computing in %s",
        loaded.name,
        loaded.version,
        loaded.device,
        loaded.dtype,
    )
    return loaded
