"""``dimtensor-train``: run, validate or launch one training config (``python -m training`` too).

    dimtensor-train run CONFIG        train (resuming from the newest checkpoint), then export
    dimtensor-train validate CONFIG   every unit and dimension check, nothing trained
    dimtensor-train launch CONFIG     validate, then torchrun on ``run`` as a child (several
                                      processes or nodes; Kubeflow's PET_* contract)

From ``main`` to the weights: ``load_config`` -> ``_build`` (``training.problems.problem_for``
or ``training.surrogate.SurrogateTask``: the unit checks, once) -> ``training.loop.run_steps``
(Adam then L-BFGS, checkpoints, SIGTERM) -> ``training.export.export_model``. Exit codes are
``training.exits.ExitCode`` (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from pydantic import ValidationError

from batch.config import server_settings
from service.errors import ServiceError
from service.models import TensorSpec
from service.models.domains import build_domain
from service.models.manifest import DomainSpec, describe_validation_error
from service.units import parse_unit
from training.checkpoints import CheckpointStore
from training.config import (
    Export,
    PinnJob,
    SurrogateJob,
    TrainSettings,
    config_hash,
    load_config,
    load_settings,
)
from training.distributed import join
from training.exits import ConfigError, ExitCode, StopSignal, configure_logging, exit_code
from training.export import export_model
from training.loop import Task, run_steps
from training.pinn import PinnTask
from training.plots import PLOT, plot_run
from training.problems import Problem, problem_for
from training.surrogate import SurrogateTask
from training.tracking import Tracker, read_metrics

__all__ = ["main"]

log = logging.getLogger("training")
EXPORTED = "exported.json"


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
    task: Task
    problem: Problem | None
    store: CheckpointStore
    export_to: Path | None


def _build(path: Path) -> _Job:
    """Every check before the first step; a refusal is a ConfigError (exit 2)."""
    settings = load_settings()
    config = load_config(path)
    torch.set_num_threads(server_settings().torch_threads)
    torch.manual_seed(config.seed)  # the network's initial weights
    problem: Problem | None = None
    task: Task
    if isinstance(config, PinnJob):
        problem = problem_for(config)
        task = PinnTask(problem, config)
    else:
        task = SurrogateTask(config)
    folder = settings.checkpoint_dir or Path(config.checkpoint_dir)
    store = CheckpointStore(folder, config_hash(config))
    store.latest()  # refuses a folder of another config
    export_to = None
    if config.export is not None:
        export_to = settings.export_repository or Path(config.export.repository)
        _check_domains(_signature(task, problem)[0], _trained(task, problem), config.export)
    return _Job(config, settings, task, problem, store, export_to)


def _signature(
    task: Task, problem: Problem | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The exported model's inputs and outputs, as manifest entries."""
    if problem is not None:
        sig = problem.signature
        inputs = [{"name": n, "unit": u, "description": d} for n, u, d in sig.inputs]
        outputs = [{"name": n, "unit": u, "description": d} for n, u, d in sig.outputs]
        return inputs, outputs
    if isinstance(task, SurrogateTask):
        found_in, found_out = task.signature()
        return [dict(i) for i in found_in], [dict(o) for o in found_out]
    raise TypeError(f"cannot export {type(task).__name__}")


def _trained(task: Task, problem: Problem | None) -> dict[str, dict[str, Any]]:
    """Where the model was trained, by input (sampled interval or the data's range)."""
    if problem is not None:
        return problem.domain()
    if isinstance(task, SurrogateTask):
        return task.domain()
    raise TypeError(f"cannot export {type(task).__name__}")


def _check_domains(
    inputs: list[dict[str, Any]], trained: dict[str, dict[str, Any]], export: Export
) -> None:
    """Refuse, before any step, an ``export.domain`` the server would refuse at load: an
    unknown input, a bound of the wrong dimension, lower not below upper."""
    declared = [dict(spec) for spec in inputs]
    _declare_domains(declared, trained, export.domain)
    try:
        specs = [TensorSpec.model_validate(spec) for spec in declared]
        build_domain(specs, [parse_unit(spec.unit) for spec in specs])
    except ValidationError as exc:
        raise ConfigError(f"export.domain: {describe_validation_error(exc)}") from None
    except ServiceError as exc:
        raise ConfigError(f"export.domain: {exc.message}") from None


def _describe(config: PinnJob | SurrogateJob) -> str:
    if isinstance(config, PinnJob):
        return f"pinn {config.problem}"
    return f"surrogate {config.architecture} on {config.data}"


def _validate(path: Path) -> int:
    job = _build(path)
    total = job.config.steps + job.config.lbfgs_steps
    sys.stdout.write(
        f"valid: {_describe(job.config)}, {total} steps, checkpoints in {job.store.folder}\n"
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
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        child.send_signal(signum)

    previous = [signal.signal(sig, forward) for sig in StopSignal.SIGNALS]
    try:
        code = child.wait()
    finally:
        for sig, handler in zip(StopSignal.SIGNALS, previous, strict=True):
            signal.signal(sig, handler)
    if received and code != 0:
        log.warning(
            "stopped by %s: the workers saved a checkpoint", signal.Signals(received[0]).name
        )
        return ExitCode.INTERRUPTED
    return code


def _run(path: Path) -> int:
    job = _build(path)
    world = join(job.settings.device)
    if world.device.type == "cpu":
        torch.use_deterministic_algorithms(True)  # bit-for-bit resume on CPU
    config = job.config
    tracker = Tracker(
        job.store.folder, world.leader, _describe(config), config.model_dump(mode="json")
    )
    try:
        if world.leader:
            log.info(
                "dimtensor-train: %s on %s, world size %d, checkpoints in %s every %d steps, "
                "export to %s, metrics to %s",
                _describe(config),
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
    """The error against the reference, the plot, and the export (once per final step)."""
    module = job.task.module.cpu().eval()
    quality = _quality(job)
    tracker.record({"final": True, "step": step, **quality})
    plot = plot_run(job.store.folder / PLOT, read_metrics(job.store.folder), job.problem)
    tracker.artifact(plot)
    log.info("done at step %d: %s; plot %s", step, json.dumps(quality), plot)
    if job.export_to is None or job.config.export is None:
        return
    marker = job.store.folder / EXPORTED
    done = _read_json(marker)
    if done.get("step") == step and done.get("config_sha256") == job.store.config_sha256:
        log.info("already exported at step %d as %s", step, done.get("path"))
        return
    manifest = _manifest(job, quality)
    folder = export_model(job.export_to, job.config.export.name, module, manifest)
    record = {"step": step, "config_sha256": job.store.config_sha256, "path": str(folder)}
    marker.write_text(json.dumps(record) + "\n", encoding="utf-8")
    log.info("exported %s", folder)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _quality(job: _Job) -> dict[str, float]:
    if job.problem is not None:
        return {"relative_l2_error": job.problem.relative_error()}
    if isinstance(job.task, SurrogateTask):
        return job.task.validation_error()
    return {}


def _manifest(job: _Job, quality: dict[str, float]) -> dict[str, Any]:
    config = job.config
    export = config.export
    inputs, outputs = _signature(job.task, job.problem)
    if job.problem is not None:
        architecture = job.problem.architecture
        domain = job.problem.describe_domain()
    elif isinstance(job.task, SurrogateTask):
        architecture = job.task.architecture
        domain = job.task.describe_domain()
    else:
        raise TypeError(f"cannot export {type(job.task).__name__}")
    _declare_domains(inputs, _trained(job.task, job.problem), export.domain if export else {})
    measured = ", ".join(f"{k} {v:.2e}" for k, v in quality.items())
    text = (export.description + " " if export and export.description else "") + (
        f"{domain}. Trained by dimtensor-train ({_describe(config)}, seed {config.seed}, "
        f"{config.steps} Adam steps + {config.lbfgs_steps} L-BFGS iterations); {measured}."
    )
    return {
        "description": text,
        "inputs": inputs,
        "outputs": outputs,
        "architecture": architecture,
    }


def _declare_domains(
    inputs: list[dict[str, Any]],
    trained: dict[str, dict[str, Any]],
    declared: dict[str, DomainSpec],
) -> None:
    """Give each exported input its validity domain: the config's ``export.domain`` entry
    when it has one, else the range it was trained on."""
    names = [spec["name"] for spec in inputs]
    unknown = [n for n in declared if n not in names]
    if unknown:
        raise ConfigError(
            f"export.domain: {unknown[0]!r} is not an input of the exported model; "
            f"expected one of {names}"
        )
    for spec in inputs:
        name = spec["name"]
        if name in declared:
            spec["domain"] = declared[name].model_dump(mode="json", exclude_defaults=True)
        elif name in trained:
            spec["domain"] = trained[name]


if __name__ == "__main__":
    sys.exit(main())
