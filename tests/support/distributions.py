"""Installed distributions made on the spot: a ``<name>-<version>.dist-info`` folder (METADATA,
entry_points.txt) beside the package's modules, in a folder put on ``sys.path``. That is all
``importlib.metadata`` reads, so an entry point written here is found exactly as one of a
pip-installed package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_distribution"]


def write_distribution(
    root: Path,
    name: str,
    version: str,
    *,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write distribution `name` `version` into `root` (the folder to put on ``sys.path``):
    `entry_points` is ``{group: {entry name: "module:attribute"}}``, `modules` is
    ``{module file name: source}``. Returns `root`."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{entry} = {target}" for entry, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for filename, source in (modules or {}).items():
        (root / filename).write_text(source)
    return root
