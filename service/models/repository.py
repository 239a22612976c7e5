"""The model repository: ``<root>/<name>/<version>/model.yaml`` scanned into loaded models.

Each (name, version) loads on its own; a failure is recorded as that version's status with its
reason and never stops the others, so one bad upload cannot take the server down. The repository
is built once and is read-only afterwards, so requests need no locking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from service.errors import ManifestError, ModelNotFoundError, ModelNotReadyError
from service.models.manifest import MANIFEST_FILENAME, ModelManifest, load_manifest
from service.models.runtime import LoadedModel, load_model

__all__ = ["ModelRepository", "ModelStatus", "default_repository_path", "version_sort_key"]


def default_repository_path() -> Path:
    """The models shipped inside the package (``service/models/defaults``)."""
    return Path(__file__).resolve().parent / "defaults"


def version_sort_key(version: str) -> tuple[int, int, str]:
    """Integers numerically (2 < 10), before any non-integer label, which sort as text."""
    if version.isdigit():
        return (0, int(version), version)
    return (1, 0, version)


@dataclass(frozen=True)
class ModelStatus:
    """What the server knows about one (name, version): ready, or failed and why."""

    name: str
    version: str
    state: Literal["ready", "failed"]
    reason: str | None = None
    manifest: ModelManifest | None = field(default=None, compare=False)


class ModelRepository:
    """All versions of all models under one root, loaded or failed."""

    def __init__(
        self, models: dict[tuple[str, str], LoadedModel], statuses: list[ModelStatus]
    ) -> None:
        self._models = dict(models)
        self._statuses = sorted(statuses, key=lambda s: (s.name, version_sort_key(s.version)))
        # The latest ready version of each name, what ``get(name)`` answers on every request
        # without a version: found once here (a scan of every status per request cost more
        # than the rest of the lookup). Names without a ready version are not in it.
        self._latest: dict[str, LoadedModel] = {}
        for status in self._statuses:  # oldest first: later ready versions overwrite
            model = self._models.get((status.name, status.version))
            if model is not None:
                self._latest[status.name] = model

    @classmethod
    def load(
        cls, root: Path, *, trusted: bool = False, device: torch.device | str = "cpu"
    ) -> ModelRepository:
        """Scan ``root`` and load every version onto `device`; per-version failures become
        statuses."""
        if not root.is_dir():
            raise ManifestError(
                f"model repository {root} is not a directory: expected "
                "<root>/<model-name>/<version>/model.yaml",
                path=str(root),
            )
        models: dict[tuple[str, str], LoadedModel] = {}
        statuses: list[ModelStatus] = []
        for name_dir in _subdirs(root):
            versions = _subdirs(name_dir)
            if not versions:
                statuses.append(
                    ModelStatus(
                        name_dir.name,
                        "",
                        "failed",
                        f"model folder {name_dir} has no version folders: "
                        f"expected {name_dir.name}/<version>/{MANIFEST_FILENAME}",
                    )
                )
            for version_dir in versions:
                status, model = _load_one(version_dir, trusted, device)
                statuses.append(status)
                if model is not None:
                    models[(status.name, status.version)] = model
        return cls(models, statuses)

    def statuses(self) -> list[ModelStatus]:
        return list(self._statuses)

    def names(self) -> list[str]:
        return sorted({s.name for s in self._statuses})

    def versions(self, name: str) -> list[str]:
        """Every version folder of ``name`` (ready or failed), oldest first."""
        self._require_name(name)
        return [s.version for s in self._statuses if s.name == name and s.version]

    def ready(self) -> bool:
        """At least one model is ready (loading is synchronous, so nothing is still loading)."""
        return bool(self._models)

    def status(self, name: str, version: str) -> ModelStatus:
        self._require_name(name)
        for s in self._statuses:
            if s.name == name and s.version == version:
                return s
        raise ModelNotFoundError(
            f"model {name!r} has no version {version!r}; available versions: {self.versions(name)}",
            model=name,
            version=version,
            available=self.versions(name),
        )

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """A ready model; ``version=None`` means the latest ready version."""
        if version is not None:
            status = self.status(name, version)
            if status.state != "ready":
                raise ModelNotReadyError(
                    f"model {name!r} version {version!r} is not ready: it failed to load: "
                    f"{status.reason}",
                    model=name,
                    version=version,
                )
            return self._models[(name, version)]
        latest = self._latest.get(name)
        if latest is not None:
            return latest
        self._require_name(name)
        ready = [v for v in self.versions(name) if (name, v) in self._models]
        if not ready:
            reasons = "; ".join(
                f"version {s.version!r}: {s.reason}" for s in self._statuses if s.name == name
            )
            raise ModelNotReadyError(f"model {name!r} has no ready version: {reasons}", model=name)
        return self._models[(name, ready[-1])]

    def _require_name(self, name: str) -> None:
        if not any(s.name == name for s in self._statuses):
            raise ModelNotFoundError(
                f"unknown model {name!r}; available models: {self.names()}",
                model=name,
                available=self.names(),
            )


def _subdirs(folder: Path) -> list[Path]:
    """Visible subfolders (``.git``, ``.cache`` and friends are not models)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _load_one(
    folder: Path, trusted: bool, device: torch.device | str
) -> tuple[ModelStatus, LoadedModel | None]:
    name, version = folder.parent.name, folder.name
    manifest: ModelManifest | None = None
    try:
        manifest_path = folder / MANIFEST_FILENAME
        if not manifest_path.is_file():
            raise ManifestError(f"no {MANIFEST_FILENAME} in {folder}")
        manifest = load_manifest(manifest_path)
        if (manifest.name, manifest.version) != (name, version):
            raise ManifestError(
                f"manifest {manifest_path} declares name {manifest.name!r} version "
                f"{manifest.version!r}, but its folder is {name}/{version}: "
                "the name and version must match the folder names"
            )
        model = load_model(folder, trusted=trusted, manifest=manifest, device=device)
    except ManifestError as exc:
        return ModelStatus(name, version, "failed", exc.message, manifest), None
    except Exception as exc:  # a bug or an OS error must not take the other models down
        reason = f"unexpected {type(exc).__name__} while loading: {exc}"
        return ModelStatus(name, version, "failed", reason, manifest), None
    return ModelStatus(name, version, "ready", None, manifest), model
