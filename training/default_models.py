"""Regenerate the learned default models shipped in ``service/models/defaults``.

    python -m training.default_models --out service/models/defaults [--data] [--check]

The embedded pendulum is the export of ``dimtensor-train run examples/training/pendulum.yaml``
(a ``pi_group_mlp`` surrogate of ``training/data/pendulum-period.parquet``): this script runs
that config with its checkpoints and export in a temporary folder, checks the model against
the exact period over its whole domain, and writes it as ``<out>/pendulum/1``. ``--data``
first rewrites the dataset from the exact formula. Seeded and single-threaded, so a CPU rerun
gives the same bytes: ``--check`` writes nothing and exits 1 when the dataset or the model it
would write differs from the checked-in files (``make generate`` writes them,
``tests/test_generated.py`` checks them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service.models import ModelRepository
from training.cli import main as train
from training.pendulum import (
    AMPLITUDE_MAX,
    G_RANGE,
    LENGTH_RANGE,
    TOLERANCE,
    exact_period,
    write_dataset,
)

__all__ = ["CONFIG", "DATA", "build_pendulum", "domain_error", "main"]

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "training" / "pendulum.yaml"
DATA = REPO / "training" / "data" / "pendulum-period.parquet"


def build_pendulum(work: Path) -> Path:
    """Run the pendulum config with everything under `work`; returns the exported folder."""
    env = {
        "TRAIN_CHECKPOINT_DIR": str(work / "checkpoints"),
        "TRAIN_EXPORT_REPOSITORY": str(work / "models"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cwd = Path.cwd()
    try:
        os.chdir(REPO)  # the config's data path is relative to the repository
        code = train(["run", str(CONFIG)])
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if code != 0:
        raise SystemExit(code)
    return work / "models" / "pendulum" / "1"


def domain_error(repository: Path) -> float:
    """The largest relative error of the period over the documented domain."""
    model = ModelRepository.load(repository).get("pendulum", "1")
    rng = np.random.default_rng(2)
    n = 50_000
    low, high = (float(v) for v in np.log(LENGTH_RANGE))
    length = np.exp(rng.uniform(low, high, n))
    amplitude = np.concatenate(
        [np.linspace(-AMPLITUDE_MAX, AMPLITUDE_MAX, 10_001), rng.uniform(-2.8, 2.8, n - 10_001)]
    )
    g = rng.uniform(*G_RANGE, n)
    (period,) = model.predict([length, amplitude, g])
    want = exact_period(length, amplitude, g)
    return float(np.max(np.abs(period - want) / want))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="repository root to write into")
    parser.add_argument("--data", action="store_true", help="rewrite the dataset first")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file would change"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="default-models-") as tmp:
        stale: list[Path] = []
        if args.data:
            data = write_dataset(Path(tmp) / DATA.name) if args.check else write_dataset(DATA)
            stale += [DATA] if _differs(data, DATA) else []
        exported = build_pendulum(Path(tmp))
        error = domain_error(exported.parent.parent)
        print(
            f"pendulum/1: max relative error {error:.2e} over the domain (tolerance {TOLERANCE:g})"
        )
        target = args.out / "pendulum" / "1"
        if args.check:
            stale += [target / f.name for f in exported.iterdir() if _differs(f, target / f.name)]
            for path in stale:
                print(f"{path} is stale: run `make generate`")
            return 1 if stale or error >= TOLERANCE else 0
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(exported, target)
    return 0 if error < TOLERANCE else 1


def _differs(new: Path, checked_in: Path) -> bool:
    """Whether the checked-in file is missing or holds other bytes than ``new``."""
    return not (checked_in.is_file() and checked_in.read_bytes() == new.read_bytes())


if __name__ == "__main__":
    sys.exit(main())
