"""Reading a weights file without ever running code from it.

Accepted: safetensors (a flat tensor table by construction) and ``torch.load(weights_only=True)``
state dicts (torch's restricted unpickler refuses any global outside tensors and containers).
TorchScript archives carry compiled code, so they are refused unless the operator marks the
repository trusted. No plain pickle, no ``torch.export`` archive, no ``eval``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from service.errors import ManifestError
from service.models.manifest import WeightsSpec

__all__ = [
    "check_sha256",
    "load_state_dict_into",
    "load_torchscript",
    "read_state_dict",
    "resolve_weights_path",
]


def check_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    received = digest.hexdigest()
    if received != expected:
        raise ManifestError(
            f"weights file {path.name!r} has sha256 {received}, the manifest expects {expected}",
            expected=expected,
            received=received,
        )


def resolve_weights_path(folder: Path, spec: WeightsSpec) -> Path:
    """The weights file inside ``folder``; symlinks that lead outside are refused too."""
    path = folder / spec.file
    base = folder.resolve()
    real = path.resolve()
    if not real.is_relative_to(base):
        raise ManifestError(
            f"weights file {spec.file!r} resolves outside the model folder {base}",
            file=spec.file,
        )
    if not real.is_file():
        raise ManifestError(
            f"weights file {spec.file!r} not found: expected a file at {path}", file=spec.file
        )
    return real


def read_state_dict(path: Path, fmt: str) -> dict[str, torch.Tensor]:
    """Tensors by name from a safetensors or weights-only ``torch.load`` file."""
    try:
        if fmt == "safetensors":
            loaded: object = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any parser failure means: not a file we accept
        raise ManifestError(
            f"weights file {path.name!r} could not be read as {fmt} "
            f"(only plain tensors are accepted; no code or arbitrary objects): "
            f"{type(exc).__name__}: {_first_line(exc)}",
            file=path.name,
            format=fmt,
        ) from exc
    if not isinstance(loaded, Mapping):
        raise ManifestError(
            f"weights file {path.name!r}: expected a mapping of tensor names to tensors, "
            f"received {type(loaded).__name__}",
            file=path.name,
        )
    tensors: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        # The name first, with its own message: a bad name's type is what was wrong.
        if not isinstance(key, str):
            raise ManifestError(
                f"weights file {path.name!r}: entry name {_short(key)} is "
                f"{type(key).__name__}, expected a string",
                file=path.name,
                received=type(key).__name__,
            )
        if not isinstance(value, torch.Tensor):
            raise ManifestError(
                f"weights file {path.name!r}: entry {_short(key)} is "
                f"{type(value).__name__}, expected a tensor",
                file=path.name,
                entry=key,
                received=type(value).__name__,
            )
        tensors[key] = value
    return tensors


def load_state_dict_into(module: nn.Module, tensors: Mapping[str, torch.Tensor], arch: str) -> None:
    """Strict load: same keys, same shapes, floating tensors only; one message lists every gap."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    for key in sorted(set(expected) & set(tensors)):
        want, got = list(expected[key].shape), list(tensors[key].shape)
        if want != got:
            problems.append(f"tensor {key!r} has shape {got}, architecture {arch!r} expects {want}")
        elif not tensors[key].is_floating_point():
            problems.append(f"tensor {key!r} has dtype {tensors[key].dtype}, expected floating")
    if problems:
        raise ManifestError(
            f"weights do not match architecture {arch!r}: " + "; ".join(problems),
            architecture=arch,
            missing=missing,
            unexpected=unexpected,
        )
    cast = {k: v.to(dtype=expected[k].dtype) for k, v in tensors.items()}
    module.load_state_dict(cast, strict=True)


def load_torchscript(path: Path, device: torch.device) -> nn.Module:
    """Trusted repositories only: TorchScript compiles and runs the code inside the archive.

    Its tensors are placed on `device` as they are read (torch's way for a scripted module:
    moving one afterwards is not supported on every device)."""
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; the operator chose it explicitly.
            warnings.simplefilter("ignore", DeprecationWarning)
            module: nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
                str(path), map_location=device
            )
    except Exception as exc:
        raise ManifestError(
            f"weights file {path.name!r} could not be loaded as TorchScript: "
            f"{type(exc).__name__}: {_first_line(exc)}",
            file=path.name,
        ) from exc
    return module


def _short(key: object) -> str:
    """A name read from an untrusted file, as it goes into a message: repr, bounded."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
