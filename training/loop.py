"""The training loop every kind shares: Adam steps, then L-BFGS iterations, checkpointed.

A ``Task`` (a PINN problem, a surrogate dataset) says what a batch is and what the loss
terms are; the loop owns everything else: the optimizers and their schedule, the seeded
generator that draws every batch, the checkpoints (every ``checkpoint_every`` steps, at the
end, and when SIGTERM is seen by any rank), the metrics, and the averaging of gradients
across ranks. Each rank draws the same global batch and computes its share
(``rows[rank::world]``), so N processes follow the 1-process run up to float rounding.

Units are not in this loop: they were checked once, before it (``training.problems``,
``training.surrogate``); a step is plain tensors, which is why the unit-checked loop runs at
a bare loop's speed (``python -m bench.training``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from jobkit.errors import Interruption
from training.checkpoints import CheckpointStore
from training.config import PinnJob, SurrogateJob
from training.distributed import World
from training.tracking import Tracker

__all__ = ["Task", "run_steps"]

log = logging.getLogger("training")


class Task(Protocol):
    """What is trained, and on what."""

    module: nn.Module

    def batch(self, step: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """The global batch of an Adam step (the same on every rank)."""

    def grid(self) -> torch.Tensor:
        """The fixed global batch of the L-BFGS phase."""

    def loss_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term (a scalar) on `batch`; the loss is their sum."""


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    keys = cast(tuple[Any, ...], np.random.get_state())
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": [keys[0], keys[1].tolist(), keys[2], keys[3], keys[4]],
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Optimizers:
    """Adam with a cosine schedule, then L-BFGS (one iteration per step)."""

    def __init__(self, module: nn.Module, config: PinnJob | SurrogateJob) -> None:
        params = [p for p in module.parameters() if p.requires_grad]
        self.params = params
        self.adam = torch.optim.Adam(params, lr=config.learning_rate)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.adam, T_max=max(config.steps, 1), eta_min=config.learning_rate / 100
        )
        self.lbfgs = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=1,
            # The default max_eval (max_iter * 5 // 4 = 1) leaves the line search no
            # evaluation: every step would return without moving (measured).
            max_eval=25,
            history_size=50,
            tolerance_grad=1e-12,
            tolerance_change=1e-16,
            line_search_fn="strong_wolfe",
        )

    def state(self) -> dict[str, Any]:
        return {
            "adam": self.adam.state_dict(),
            "schedule": self.schedule.state_dict(),
            "lbfgs": self.lbfgs.state_dict(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.adam.load_state_dict(state["adam"])
        self.schedule.load_state_dict(state["schedule"])
        self.lbfgs.load_state_dict(state["lbfgs"])


def run_steps(
    task: Task,
    config: PinnJob | SurrogateJob,
    world: World,
    store: CheckpointStore,
    tracker: Tracker,
    should_stop: Callable[[], bool],
) -> int:
    """Train from the newest checkpoint (or from scratch) to the last step; returns it.

    Raises ``Interruption`` (exit 75) after saving a checkpoint when any rank was signalled.
    """
    module = task.module.to(world.device)
    optimizers = _Optimizers(module, config)
    generator = torch.Generator().manual_seed(config.seed + 1)
    total = config.steps + config.lbfgs_steps
    step = 0
    latest = store.latest()
    if latest is not None:
        state = latest.load()
        module.load_state_dict(state["module"])
        optimizers.restore(state["optimizers"])
        _restore_rng(state["rng"], generator)
        step = int(state["step"])
        log.info("resumed from %s (step %d of %d)", latest.path, step, total)
    grid = _share(task.grid(), world)
    saved = step

    def save(at: int) -> None:
        if world.leader:
            state = {
                "step": at,
                "module": module.state_dict(),
                "optimizers": optimizers.state(),
                "rng": _rng_state(generator),
            }
            store.save(at, state)
        world.barrier()

    started, logged = time.perf_counter(), step
    while step < total:
        if world.any(should_stop()):
            if step > saved:
                save(step)
            raise Interruption(f"stopped by a signal at step {step} of {total}, checkpoint saved")
        if step < config.steps:
            lr = float(optimizers.schedule.get_last_lr()[0])
            terms = _adam_step(task, optimizers, world, step, config.batch, generator)
        else:
            lr = 1.0
            terms = _lbfgs_step(task, optimizers, world, grid)
        step += 1
        if step % config.log_every == 0 or step == total:
            # Only now are the terms read back (and averaged over the ranks, which all
            # know the step): a per-step read-back would cost every step.
            values = _mean_terms(terms, world)
            elapsed = time.perf_counter() - started
            rows = config.batch if step <= config.steps else len(grid) * world.size
            steps_done = step - logged
            tracker.step(step, values, lr, elapsed / steps_done, rows * steps_done / elapsed)
            logged = step
            started = time.perf_counter()
        if step % config.checkpoint_every == 0 or step == total:
            save(step)
            saved = step
    return step


def _share(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's rows of a global batch."""
    return batch[world.rank :: world.size].to(world.device)


def _adam_step(
    task: Task,
    optimizers: _Optimizers,
    world: World,
    step: int,
    size: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    batch = _share(task.batch(step, size, generator), world)
    optimizers.adam.zero_grad()
    terms, _ = _backward(task, optimizers, world, batch)
    optimizers.adam.step()
    optimizers.schedule.step()
    return terms


def _backward(
    task: Task, optimizers: _Optimizers, world: World, batch: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The loss terms on `batch`, their sum's gradients averaged over the ranks."""
    terms = task.loss_terms(batch)
    loss = torch.stack(list(terms.values())).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    world.average([p.grad for p in optimizers.params if p.grad is not None])
    return terms, loss


def _lbfgs_step(
    task: Task, optimizers: _Optimizers, world: World, grid: torch.Tensor
) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        optimizers.lbfgs.zero_grad()
        terms, loss = _backward(task, optimizers, world, grid)
        value = loss.detach().clone()
        world.average([value])  # every rank takes the same line-search decisions
        seen.update(terms)
        return value

    optimizers.lbfgs.step(closure)  # type: ignore[no-untyped-call]
    return seen


def _mean_terms(terms: dict[str, torch.Tensor], world: World) -> dict[str, float]:
    values = [t.detach().clone().reshape(1) for t in terms.values()]
    world.average(values)
    return {name: float(v) for name, v in zip(terms, values, strict=True)}
