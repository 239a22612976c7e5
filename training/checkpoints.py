"""Checkpoints that a kill at any moment cannot tear: the newest complete one is resumed.

Layout: ``<checkpoint_dir>/step-00001500/state.pt`` and ``.../COMMITTED``. A checkpoint is
written into a temporary folder (``jobkit.files``' one rule: ``.step-00001500.<host>-<pid>-
<token>.tmp``), its file fsynced, the folder renamed into place and the parent fsynced; the
commit marker (step, sha256 of ``state.pt``, the config's hash) is written last, atomically.
On start the newest folder whose marker exists and whose ``state.pt`` matches the marker's
sha256 is resumed; a folder without a marker, or with a mismatch, is torn and ignored (and
removed by the next save). The ``keep`` newest complete checkpoints stay.

``state.pt`` is read with ``torch.load(weights_only=True)``: it holds tensors, numbers,
strings and lists only (numpy's RNG state is stored as a list), so loading a checkpoint
cannot run code even if the volume was tampered with.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jobkit.errors import ConfigError
from jobkit.files import atomic_write, fsync_dir, is_temp, remove, sha256_file, temp_path

__all__ = ["Checkpoint", "CheckpointStore"]

log = logging.getLogger("training")

STATE = "state.pt"
MARKER = "COMMITTED"
_NAME = re.compile(r"^step-(\d{8,})$")


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: its step, its folder and its commit marker."""

    step: int
    path: Path
    marker: dict[str, Any]

    def load(self) -> dict[str, Any]:
        state: dict[str, Any] = torch.load(self.path / STATE, weights_only=True)
        return state


class CheckpointStore:
    """The checkpoints of one config in one folder."""

    def __init__(self, folder: Path, config_sha256: str, keep: int = 3) -> None:
        self.folder = folder
        self.config_sha256 = config_sha256
        self.keep = keep

    def complete(self) -> list[Checkpoint]:
        """Every complete checkpoint, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _NAME.match(path.name)
            marker = self._marker(path) if match else None
            if match and marker is not None and marker.get("step") == int(match.group(1)):
                found.append(Checkpoint(int(match.group(1)), path, marker))
        return sorted(found, key=lambda c: c.step)

    def _marker(self, path: Path) -> dict[str, Any] | None:
        try:
            marker: dict[str, Any] = json.loads((path / MARKER).read_bytes())
            if marker.get("sha256") != sha256_file(path / STATE):
                return None
        except (OSError, ValueError):
            return None
        return marker

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint of this config; another config's is refused."""
        done = self.complete()
        if not done:
            return None
        newest = done[-1]
        marker = newest.marker  # read and checked by complete(): not hashed again
        if marker.get("config_sha256") != self.config_sha256:
            raise ConfigError(
                f"checkpoint_dir {self.folder} holds checkpoints of another config "
                f"(config sha256 {str(marker.get('config_sha256'))[:12]}..., this one "
                f"{self.config_sha256[:12]}...): use another checkpoint_dir, or empty it"
            )
        return newest

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write a checkpoint of `step`; returns its folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"step-{step:08d}"
        tmp = temp_path(final)
        tmp.mkdir()
        try:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            with (tmp / STATE).open("wb") as fh:
                fh.write(buffer.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            digest = sha256_file(tmp / STATE)
            if final.exists():  # a torn one of the same step (its marker never came)
                shutil.rmtree(final)
            tmp.rename(final)
            fsync_dir(self.folder)
        finally:
            remove(tmp)
        marker = {"step": step, "sha256": digest, "config_sha256": self.config_sha256}
        atomic_write(final / MARKER, json.dumps(marker, sort_keys=True).encode() + b"\n")
        fsync_dir(final)
        self._prune()
        return final

    def _prune(self) -> None:
        """Keep the `keep` newest complete checkpoints; drop torn ones and stale temps."""
        done = self.complete()
        keep = {c.path for c in done[-self.keep :]}
        for path in self.folder.iterdir():
            if path in keep or not (_NAME.match(path.name) or is_temp(path)):
                continue
            if is_temp(path) and path.name.startswith(".step-"):
                continue  # another rank's or process's save in flight: not ours to remove
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
