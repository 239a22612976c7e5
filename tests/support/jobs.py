"""The job CLIs as the tests run them, batch and training alike: the console script's ``main``
in this process, or ``python -m <package>`` as a real process, over a config the test writes
into its own folder. Then what each workload's tests build on: the batch configs and an output
folder's rows read back, the training configs and a run's newest weights."""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.support.paths import REPO

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Job:
    """One job CLI: its package (run as ``python -m <package>``, its ``main`` in
    ``<package>.cli``), its console script, and how a test's config is written: the file name
    and the paths inside the test's folder that the config gets."""

    package: str
    script: str
    config_name: str
    paths: Callable[..., dict[str, Any]]

    def cli(self, *args: str | Path) -> int:
        """The console script with ARGS, in this process; its exit code."""
        main = importlib.import_module(f"{self.package}.cli").main
        return int(main([str(a) for a in args]))

    def process(
        self, *args: str | Path, env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        """``python -m <package> ARGS`` as a real process (stdout and stderr piped, text)."""
        return subprocess.Popen(
            [sys.executable, "-m", self.package, *map(str, args)],
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    def write_config(self, folder: Path, doc: dict[str, Any], **where: str | None) -> Path:
        """`doc` as a YAML config in `folder`, with this CLI's paths inside `folder`
        (`where` picks them: see the `paths` function of each CLI below)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.config_name
        full = {**doc, **self.paths(folder, **where)}
        path.write_text(yaml.safe_dump(full, sort_keys=False))
        return path


# --- batch -----------------------------------------------------------------------------------


def batch_paths(folder: Path, *, output: str = "out") -> dict[str, Any]:
    """A batch config writes into `folder/<output>`."""
    return {"output": str(folder / output)}


BATCH = Job("batch", "dimtensor-batch", "job.yaml", batch_paths)

PROJECTILE_SWEEP: dict[str, Any] = {
    "kind": "sweep",
    "model": "projectile",
    "parameters": {
        "speed": {"unit": "km/h", "linspace": [10, 100, 10]},
        "angle": {"unit": "deg", "values": [15, 30, 45, 60, 75]},
        "g": {"unit": "m/s^2", "value": 9.81},
    },
    "outputs": {"range": "m", "flight_time": "s"},
}

MONTE_CARLO: dict[str, Any] = {
    "kind": "montecarlo",
    "model": "projectile",
    "parameters": {
        "speed": {"unit": "m/s", "normal": {"mean": 20, "std": 2}},
        "angle": {"unit": "deg", "uniform": {"low": 20, "high": 70}},
        "g": {"unit": "m/s^2", "lognormal": {"median": 9.81, "sigma": 0.01}},
    },
    "samples": 1000,
    "seed": 42,
}


def rows_of(folder: Path) -> pa.Table:
    """Every completed part's rows, in shard order, without file metadata."""
    parts = sorted(folder.glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(t.replace_schema_metadata(None) for t in tables)


# --- training --------------------------------------------------------------------------------


def training_paths(folder: Path, *, export: str | None = None) -> dict[str, Any]:
    """A training config checkpoints into `folder/ckpt`; with `export`, it exports the model
    under that name into the repository `folder/models`."""
    paths: dict[str, Any] = {"checkpoint_dir": str(folder / "ckpt")}
    if export is not None:
        paths["export"] = {"repository": str(folder / "models"), "name": export}
    return paths


TRAINING = Job("training", "dimtensor-train", "train.yaml", training_paths)

TRAINING_EXAMPLES = REPO / "examples" / "training"


def example(name: str, **changes: Any) -> dict[str, Any]:
    """An example config (without its paths) with `changes`: small, fast variants."""
    doc: dict[str, Any] = yaml.safe_load((TRAINING_EXAMPLES / f"{name}.yaml").read_text())
    for key in ("checkpoint_dir", "export"):
        doc.pop(key, None)
    return {**doc, **changes}


def small_example(name: str, **changes: Any) -> dict[str, Any]:
    """An example config on a coarse grid with a small network, logging every 50 steps, with
    `changes`: seconds to train."""
    network = {"hidden": [32, 32], "n_features": 8}
    return example(name, grid=256, network=network, log_every=50, **changes)


# The example oscillator over 1.5 periods: seconds to train, still inside the PINN's reach.
OSCILLATOR = small_example("oscillator", steps=400, lbfgs_steps=100, checkpoint_every=50)
OSCILLATOR["parameters"]["t_end"] = {"value": 4, "unit": "s"}


def oscillator(**changes: Any) -> dict[str, Any]:
    """A copy of OSCILLATOR with `changes`."""
    doc = copy.deepcopy(OSCILLATOR)
    doc.update(changes)
    return doc


def final_weights(config: Path) -> dict[str, torch.Tensor]:
    """The module weights of the newest complete checkpoint of `config`'s run."""
    from training.checkpoints import CheckpointStore
    from training.config import config_hash, load_config

    job = load_config(config)
    latest = CheckpointStore(Path(job.checkpoint_dir), config_hash(job)).latest()
    assert latest is not None
    state: dict[str, torch.Tensor] = latest.load()["module"]
    return state
