"""What every training task tells the CLI, the export and the figure.

A task (a PINN problem sampled by ``training.pinn``, a surrogate of a dataset in
``training.surrogate``) is trained through ``training.loop.Task`` (its batches and loss terms)
and described through the rest of :class:`TrainingTask`: the exported signature (names and
units), the domain it was trained on, the architecture the server rebuilds it from, the quality
measured once it is trained, and its panels of the run's figure. ``training.export`` assembles
the manifest from these alone and ``training.plots`` draws from them, so a new kind is a task
and a row of ``training.kinds.TASKS``: neither the CLI nor the export learns its type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from training.loop import Task

__all__ = ["Panel", "Port", "Signature", "TrainingTask"]

Panel = Callable[[Any], None]
"""Draws one panel of the run's figure on the matplotlib ``Axes`` it is given."""


@dataclass(frozen=True)
class Port:
    """An input or output of the exported model: its name, the unit the model computes in and,
    when the task knows one, what it is."""

    name: str
    unit: str
    description: str | None = None

    def entry(self) -> dict[str, Any]:
        """As a manifest ``inputs``/``outputs`` entry (no ``description`` key without one)."""
        entry = {"name": self.name, "unit": self.unit}
        if self.description is not None:
            entry["description"] = self.description
        return entry


@dataclass(frozen=True)
class Signature:
    """The exported model's inputs and outputs, in the order the model takes and returns them."""

    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]


@runtime_checkable
class TrainingTask(Task, Protocol):
    """A task the CLI trains, exports and plots without knowing its kind."""

    @property
    def architecture(self) -> dict[str, Any]:
        """The manifest's ``architecture``: the server's architecture name and its params."""

    def describe(self) -> str:
        """What trains, in a few words ("pinn heat_1d"): ``validate``'s line, the logs, the
        tracker's run name and the manifest's description."""

    def signature(self) -> Signature:
        """The exported inputs and outputs, with the units the model computes in."""

    def trained_domain(self) -> dict[str, dict[str, Any]]:
        """Input name -> the manifest ``domain`` it was trained on (an input without one is
        left out); ``export.domain`` may declare another."""

    def describe_domain(self) -> str:
        """The manifest description's first sentence: what the model is and where it holds."""

    def quality(self) -> dict[str, float]:
        """The errors measured once training is done: the final metrics line, the log and the
        manifest's description."""

    def panels(self) -> Sequence[Panel]:
        """The figure's panels after the loss curves (none for a task with nothing to draw)."""
