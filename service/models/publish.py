"""Writing a repository version: the one way a new ``<repository>/<name>/<version>/`` lands.

Training's export and ``pack`` both write a version here, so a version the server would
refuse never lands, whoever writes it. The version is written as a temporary folder inside
``<repository>/<name>/`` (``weights.safetensors`` with its sha256 in ``model.yaml``), loaded
back with the server's own :func:`~service.models.runtime.load_model`, optionally checked
further by the caller (pack runs an example through it), fsynced, then renamed to the next
free integer version; a rename that loses a race to another writer takes the number after.
A server scanning the repository sees no version or a whole one, and a refusal leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import ValidationError
from safetensors.torch import save_file

from jobkit.files import fsync_dir, remove, sha256_file, temp_path
from service.errors import ManifestError
from service.models.manifest import MANIFEST_FILENAME, ModelManifest, describe_validation_error
from service.models.runtime import LoadedModel, load_model

__all__ = ["WEIGHTS", "next_version", "publish_version", "weights_of"]

WEIGHTS = "weights.safetensors"


def next_version(folder: Path) -> int:
    """One past the highest integer version under `folder` (1 for none)."""
    versions = (
        [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        if folder.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def weights_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict as plain CPU tensors that safetensors can write (no shared
    storage, contiguous, detached from autograd)."""
    return _plain(module.state_dict())


def _plain(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def publish_version(
    repository: Path,
    name: str,
    tensors: Mapping[str, torch.Tensor] | None,
    manifest: Mapping[str, Any],
    *,
    source: str,
    check: Callable[[LoadedModel], None] | None = None,
) -> Path:
    """Write `manifest` (a ``model.yaml`` without name, version and weights) and `tensors`
    as the next integer version of `name`; returns the version's folder.

    Args:
        tensors: the weights (written as safetensors), or None for an architecture without
            any.
        source: who wrote the weights, kept in the safetensors metadata.
        check: run on the loaded version before it is renamed into place; whatever it
            raises refuses the version.

    Raises:
        ManifestError: the manifest is not one the server loads (checked before anything is
            written), or the written version fails the server's loader.
    """
    _check_text(name, manifest, weighted=tensors is not None)
    folder = repository / name
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(folder / "version")
    tmp.mkdir()
    published = False
    try:
        weights: dict[str, Any] = {}
        if tensors is not None:
            # One metadata key only: safetensors writes a multi-key map in random order.
            save_file(_plain(tensors), str(tmp / WEIGHTS), metadata={"source": source})
            (tmp / WEIGHTS).chmod(0o644)  # safetensors writes 0600; the server may be another user
            spec = {"file": WEIGHTS, "format": "safetensors", "sha256": sha256_file(tmp / WEIGHTS)}
            weights = {"weights": spec}
        checked = False
        while True:
            version = next_version(folder)
            doc = {"name": name, "version": str(version), **manifest, **weights}
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=96)
            (tmp / MANIFEST_FILENAME).write_text(text, encoding="utf-8")
            loaded = load_model(tmp)  # the server's own loader: refuses what it would refuse
            if check is not None and not checked:
                check(loaded)
                checked = True
            for path in tmp.iterdir():
                with path.open("rb") as fh:
                    os.fsync(fh.fileno())
            try:
                tmp.rename(folder / str(version))
            except OSError:
                if (folder / str(version)).exists():
                    continue  # another writer took this number: take the next
                raise
            fsync_dir(folder)
            published = True
            return folder / str(version)
    finally:
        remove(tmp)
        if created and not published:
            # A model folder without a version is a failed model to the server.
            with contextlib.suppress(OSError):  # another writer's version is in it
                folder.rmdir()


def _check_text(name: str, manifest: Mapping[str, Any], *, weighted: bool) -> None:
    """What the manifest's text alone decides, before `name` becomes a folder: a name that
    is not a slug (``../x``) never reaches the file system."""
    probe = {"name": name, "version": "1", **manifest}
    if weighted:
        probe["weights"] = {"file": WEIGHTS, "format": "safetensors"}
    try:
        ModelManifest.model_validate(probe)
    except ValidationError as exc:
        raise ManifestError(
            f"model {name!r}: {describe_validation_error(exc)}", model=name
        ) from None
