"""Metrics of a run: JSON lines on stdout and in ``metrics.jsonl`` beside the checkpoints,
and MLflow when ``MLFLOW_TRACKING_URI`` is set and the ``tracking`` extra is installed.

One line per ``log_every`` steps, from rank 0 only:
``{"step": 500, "loss": 1.2e-3, "terms": {"equation": 1.2e-3}, "lr": 0.0029,
"step_time_s": 0.0031, "samples_per_s": 82000.0}``. A resumed run appends to the same file,
so a step logged twice (killed after the line, before the checkpoint) appears twice; readers
keep the last line of a step (``read_metrics``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import IO, Any

__all__ = ["METRICS", "Tracker", "read_metrics"]

METRICS = "metrics.jsonl"


def _mlflow() -> ModuleType | None:
    """The mlflow module when tracking is asked for and installed, else None (silently)."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        return importlib.import_module("mlflow")
    except ImportError:
        return None


class Tracker:
    """Writes metrics where they are wanted; a no-op on ranks other than 0."""

    def __init__(self, folder: Path, leader: bool, run_name: str, params: dict[str, Any]) -> None:
        self.leader = leader
        self._file: IO[str] | None = None
        self.mlflow = _mlflow() if leader else None
        if not leader:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self._file = (folder / METRICS).open("a", encoding="utf-8")
        if self.mlflow is not None:
            self.mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "dimtensor-train"))
            self.mlflow.start_run(run_name=run_name)
            self.mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    @property
    def active(self) -> str:
        """What receives the metrics, for the start line."""
        where = ["stdout", METRICS]
        if self.mlflow is not None:
            where.append(f"MLflow ({os.environ['MLFLOW_TRACKING_URI']})")
        return ", ".join(where)

    def step(
        self, step: int, terms: dict[str, float], lr: float, step_time: float, samples: float
    ) -> None:
        self.record(
            {
                "step": step,
                "loss": sum(terms.values()),
                "terms": terms,
                "lr": lr,
                "step_time_s": step_time,
                "samples_per_s": samples,
            }
        )

    def record(self, entry: dict[str, Any]) -> None:
        """One JSON line (and MLflow metrics for its numbers)."""
        if not self.leader or self._file is None:
            return
        line = json.dumps(entry, sort_keys=True)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        self._file.write(line + "\n")
        self._file.flush()
        if self.mlflow is not None and "step" in entry:
            flat = {k: v for k, v in entry.items() if isinstance(v, int | float) and k != "step"}
            flat.update({f"loss_{k}": v for k, v in entry.get("terms", {}).items()})
            self.mlflow.log_metrics(flat, step=int(entry["step"]))

    def artifact(self, path: Path) -> None:
        if self.mlflow is not None:
            self.mlflow.log_artifact(str(path))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.mlflow is not None:
            self.mlflow.end_run()


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The step lines of ``metrics.jsonl``, the last of each step, in step order."""
    by_step: dict[int, dict[str, Any]] = {}
    try:
        lines = (folder / METRICS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if isinstance(entry, dict) and isinstance(entry.get("step"), int) and "terms" in entry:
            by_step[entry["step"]] = entry
    return [by_step[k] for k in sorted(by_step)]
