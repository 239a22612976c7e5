"""Export a trained module into the model repository the server loads, as the next version.

``<repository>/<name>/<next>/model.yaml`` (the unit signature, the architecture and a
description of where the model is valid) and ``weights.safetensors`` (with its sha256 in the
manifest). The version is written as a temporary folder inside ``<repository>/<name>/``,
loaded back with the server's own ``load_model`` (so an export the server would refuse never
lands), then renamed to the next free integer version; a rename that loses a race to another
export takes the number after. A server scanning the repository sees no version or a whole
one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

import yaml
from safetensors.torch import save_file
from torch import nn

from batch.parts import fsync_dir, sha256_file
from service.models import load_model

__all__ = ["WEIGHTS", "export_model", "next_version"]

WEIGHTS = "weights.safetensors"


def next_version(folder: Path) -> int:
    """One past the highest integer version under `folder` (1 for none)."""
    versions = (
        [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        if folder.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def export_model(
    repository: Path,
    name: str,
    module: nn.Module,
    manifest: dict[str, Any],
) -> Path:
    """Write `module` with `manifest` (without name, version, weights) as the next version
    of `name`; returns the version's folder."""
    folder = repository / name
    folder.mkdir(parents=True, exist_ok=True)
    token = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp = folder / f".export-{token}.tmp"
    tmp.mkdir()
    try:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
        # One metadata key only: safetensors writes a multi-key map in random order.
        save_file(tensors, str(tmp / WEIGHTS), metadata={"source": "dimtensor-train"})
        (tmp / WEIGHTS).chmod(0o644)  # safetensors writes 0600; the server may be another user
        digest = sha256_file(tmp / WEIGHTS)
        while True:
            version = next_version(folder)
            doc = {
                "name": name,
                "version": str(version),
                **manifest,
                "weights": {"file": WEIGHTS, "format": "safetensors", "sha256": digest},
            }
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=96)
            (tmp / "model.yaml").write_text(text, encoding="utf-8")
            load_model(tmp)  # the server's own loader: refuses what it would refuse
            for path in tmp.iterdir():
                with path.open("rb") as fh:
                    os.fsync(fh.fileno())
            try:
                tmp.rename(folder / str(version))
            except OSError:
                if (folder / str(version)).exists():
                    continue  # another export took this number: take the next
                raise
            fsync_dir(folder)
            return folder / str(version)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
