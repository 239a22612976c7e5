"""``dimtensor-train``: run, validate or launch one training config (``python -m training`` too).

    dimtensor-train run CONFIG        train (resuming from the newest checkpoint), then export
    dimtensor-train validate CONFIG   every unit and dimension check, nothing trained
    dimtensor-train launch CONFIG     validate, then torchrun on ``run`` as a child (several
                                      processes or nodes; Kubeflow's PET_* contract)

From ``main`` to the weights: ``load_config`` -> ``_build`` (``training.kinds.build_task``:
the config's kind builds its task, every unit check once) -> ``training.loop.run_steps`` (Adam
then L-BFGS, checkpoints, SIGTERM) -> ``training.export.export_run``. The CLI sees every kind
through ``training.task.TrainingTask`` alone. Exit codes are ``jobkit.exits.ExitCode``
(docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from jobkit.config import load_environment
from jobkit.errors import exit_code
from jobkit.exits import ExitCode
from jobkit.logs import configure_logging
from jobkit.stop import StopSignal
from service.core import use_threads
from service.settings import Settings
from training.checkpoints import CheckpointStore
from training.config import (
    PinnJob,
    SurrogateJob,
    TrainSettings,
    config_hash,
    load_config,
    load_settings,
)
from training.distributed import join
from training.export import check_domains, export_run
from training.kinds import build_task
from training.loop import run_steps
from training.plots import PLOT, plot_run
from training.task import TrainingTask
from training.tracking import Tracker, read_metrics

__all__ = ["main"]

log = logging.getLogger("training")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dimtensor-train",
        description="Unit-checked PINN and surrogate training (docs/training.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "train, resuming from the newest checkpoint, then export"),
        ("validate", "check the config's units and dimensions without training"),
        ("launch", "validate, then run under torchrun (PET_* environment)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("config", type=Path, help="the YAML config file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code."""
    args = _parser().parse_args(argv)
    commands = {"run": _run, "launch": _launch, "validate": _validate}
    return exit_code(lambda: commands[args.command](args.config), configure_logging("training"))


@dataclass
class _Job:
    """A config read and checked: what trains, where its checkpoints and export go."""

    config: PinnJob | SurrogateJob
    settings: TrainSettings
    task: TrainingTask
    store: CheckpointStore
    export_to: Path | None


def _build(path: Path) -> _Job:
    """Every check before the first step; a refusal is a ConfigError (exit 2)."""
    settings = load_settings()
    config = load_config(path)
    use_threads(load_environment(Settings))
    torch.manual_seed(config.seed)  # the network's initial weights
    task = build_task(config)
    folder = settings.checkpoint_dir or Path(config.checkpoint_dir)
    store = CheckpointStore(folder, config_hash(config))
    store.latest()  # refuses a folder of another config
    export_to = None
    if config.export is not None:
        export_to = settings.export_repository or Path(config.export.repository)
        check_domains(task, config.export)
    return _Job(config, settings, task, store, export_to)


def _validate(path: Path) -> int:
    job = _build(path)
    total = job.config.steps + job.config.lbfgs_steps
    sys.stdout.write(
        f"valid: {job.task.describe()}, {total} steps, checkpoints in {job.store.folder}\n"
    )
    return ExitCode.OK


def _launch(path: Path) -> int:
    """Validate here (a config error exits 2 before any process starts), then run torchrun
    as a child; the node rank of an Indexed Job is its completion index.

    SIGTERM and SIGINT are passed on to torchrun (which passes them to its workers: they
    agree on a step, rank 0 saves, they exit 75); torchrun itself then exits 1, so a
    launch that was signalled exits 75 itself, and a Job's podFailurePolicy reads one
    code whether the run had one process or many."""
    _build(path)
    env = dict(os.environ)
    if "PET_NODE_RANK" not in env and env.get("JOB_COMPLETION_INDEX", "").isdigit():
        env["PET_NODE_RANK"] = env["JOB_COMPLETION_INDEX"]
    argv = [sys.executable, "-m", "torch.distributed.run", "--module", "training", "run", str(path)]
    log.info("launching: %s", " ".join(argv[1:]))
    child = subprocess.Popen(argv, env=env)  # noqa: S603 - a fixed argv: this Python, torchrun
    boundary = "step of the workers (passed on to torchrun)"
    with StopSignal(logger="training", boundary=boundary, forward=child.send_signal) as stop:
        code = child.wait()
    if stop.is_set() and code != 0:
        log.warning("stopped by %s: the workers saved a checkpoint", stop.signal)
        return ExitCode.INTERRUPTED
    return code


def _run(path: Path) -> int:
    job = _build(path)
    world = join(job.settings.device)
    if world.device.type == "cpu":
        torch.use_deterministic_algorithms(True)  # bit-for-bit resume on CPU
    config = job.config
    tracker = Tracker(
        job.store.folder, world.leader, job.task.describe(), config.model_dump(mode="json")
    )
    try:
        if world.leader:
            log.info(
                "dimtensor-train: %s on %s, world size %d, checkpoints in %s every %d steps, "
                "export to %s, metrics to %s",
                job.task.describe(),
                world.device,
                world.size,
                job.store.folder,
                config.checkpoint_every,
                job.export_to / config.export.name if job.export_to and config.export else "none",
                tracker.active,
            )
        with StopSignal(logger="training", boundary="step (a checkpoint is saved first)") as stop:
            step = run_steps(job.task, config, world, job.store, tracker, stop.is_set)
        if world.leader:
            _finish(job, tracker, step)
        world.barrier()
    finally:
        tracker.close()
        world.leave()
    return ExitCode.OK


def _finish(job: _Job, tracker: Tracker, step: int) -> None:
    """The task's quality, the plot, and the export (once per final step)."""
    job.task.module.cpu().eval()
    quality = job.task.quality()
    tracker.record({"final": True, "step": step, **quality})
    plot = plot_run(job.store.folder / PLOT, read_metrics(job.store.folder), job.task)
    tracker.artifact(plot)
    log.info("done at step %d: %s; plot %s", step, json.dumps(quality), plot)
    if job.export_to is not None:
        export_run(job.task, job.config, job.export_to, job.store, step, quality)


if __name__ == "__main__":
    sys.exit(main())
