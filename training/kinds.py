"""A config's ``kind`` -> the builder of its training task: the one place that knows every
kind (``training.config`` reads them, this table builds them). Everything after the build, the
CLI, the export and the figure, sees a ``training.task.TrainingTask``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from training.config import PinnJob, SurrogateJob
from training.pinn import PinnTask
from training.surrogate import SurrogateTask
from training.task import TrainingTask

__all__ = ["TASKS", "build_task"]

TASKS: dict[str, Callable[[Any], TrainingTask]] = {
    "pinn": PinnTask.for_config,
    "surrogate": SurrogateTask,
}
"""Each builder takes the config of its kind and does every check (a ``ConfigError``)."""


def build_task(config: PinnJob | SurrogateJob) -> TrainingTask:
    """The task `config` trains, checked before any step."""
    return TASKS[config.kind](config)
