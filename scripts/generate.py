"""Every file in this repository that is written by a program, and the program that writes it.

Usage: python scripts/generate.py [--check] [--list] [NAME ...]

Without arguments each generator rewrites its files (``make generate``). With ``--check``
nothing is written: each generator compares what it would write with what is checked in and
the exit status is 1 when any file is stale (``tests/test_generated.py`` runs one check per
row). Names pick rows; ``--list`` prints them.

Every generator follows one convention, so this table is all there is to know about it: its
command writes the files, the same command with ``--check`` writes nothing, says which file is
stale, and exits 1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GENERATORS", "Generator", "main"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Generator:
    """One program and the checked-in files it writes."""

    name: str
    command: tuple[str, ...]  # run with this Python, from the repository root
    writes: tuple[str, ...]
    slow: bool = False  # trains or builds: a minute or more

    def argv(self, *, check: bool) -> list[str]:
        return [sys.executable, *self.command, *(["--check"] if check else [])]


GENERATORS = (
    Generator(
        "chart-readme",
        ("deploy/helm/readme_params.py",),
        ("deploy/helm/dimtensor/README.md",),
    ),
    Generator(
        "locustfile-configmap",
        ("-m", "loadtests.configmap"),
        ("deploy/examples/loadtest/locustfile-configmap.yaml",),
    ),
    Generator(
        "exit-codes",
        ("-m", "jobkit.exits", "write"),
        (
            "deploy/helm/dimtensor/templates/_exits.tpl",
            "deploy/examples/batch-job.yaml",
            "deploy/examples/training-job.yaml",
            "deploy/examples/training-ddp.yaml",
            "docs/batch.md",
            "docs/training.md",
            "docs/loadtests.md",
        ),
    ),
    Generator(
        "model-reference",
        ("-m", "service.models.reference"),
        ("docs/model-manifest.schema.json", "docs/models.md"),
    ),
    Generator(
        "default-models",
        ("-m", "training.default_models", "--data", "--out", "service/models/defaults"),
        ("training/data/pendulum-period.parquet", "service/models/defaults/pendulum/1"),
        slow=True,
    ),
)


def run(generator: Generator, *, check: bool) -> int:
    """The generator's exit status (its own output goes to this process's streams)."""
    argv = generator.argv(check=check)
    return subprocess.run(argv, cwd=ROOT, check=False).returncode  # noqa: S603 - this table's argv


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    check = "--check" in args
    if "--list" in args:
        for generator in GENERATORS:
            print(f"{generator.name}: {' '.join(generator.writes)}")
        return 0
    names = [a for a in args if not a.startswith("--")]
    known = {g.name: g for g in GENERATORS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        print(f"unknown generator(s) {', '.join(unknown)}: expected {', '.join(known)}")
        return 2
    failed = [g.name for g in GENERATORS if (not names or g.name in names) and run(g, check=check)]
    if failed:
        verb = "stale" if check else "failed"
        print(f"{verb}: {', '.join(failed)} (run `make generate`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
