"""``python -m bench.training``: the unit-checked training loop against a bare torch loop.

One run, one machine, each workload its own process pinned to core 0, one torch thread:

- ``bare``: the loop anyone would write: the same network (the oscillator PINN's ansatz
  around a Fourier-feature MLP, built with the same seed), the same batch of collocation
  points drawn from a seeded generator, the same residual, Adam with a cosine schedule;
  nothing else.
- ``dimtensor-train``: ``training.loop.run_steps`` on the same config as ``dimtensor-train run``
  builds it (units and dimensions checked once, before, and not timed), with its defaults:
  metrics every 100 steps, a checkpoint every 500, the SIGTERM check every step.

Steps/s over ``--steps`` Adam steps (best of ``--repeats``), and the ratio to ``bare``.
"""

# ruff: noqa: S603 - a benchmark driver: fixed argv of taskset and python
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = ["main", "table"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "training" / "oscillator.yaml"


def config_for(steps: int, checkpoint_dir: Path) -> dict[str, Any]:
    """The example oscillator config, Adam steps only, checkpoints under `checkpoint_dir`."""
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    doc.pop("export")
    return {**doc, "steps": steps, "lbfgs_steps": 0, "checkpoint_dir": str(checkpoint_dir)}


def bare(config_path: Path) -> tuple[int, float]:
    """The loop without the CLI: returns (steps, seconds)."""
    import torch

    from training.config import PinnJob, load_config
    from training.pinn import PinnTask
    from training.problems import problem_for

    config = load_config(config_path)
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    if not isinstance(config, PinnJob):
        raise SystemExit("the benchmark config is a PINN")
    problem = problem_for(config)  # the same network and residual, built the same way
    task = PinnTask(problem, config)
    module = problem.module
    adam = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        adam, config.steps, config.learning_rate / 100
    )
    generator = torch.Generator().manual_seed(config.seed + 1)
    started = time.perf_counter()
    for step in range(config.steps):
        points = task.batch(step, config.batch, generator)
        adam.zero_grad()
        loss = problem.residual(points)["equation"]
        loss.backward()  # type: ignore[no-untyped-call]
        adam.step()
        schedule.step()
    return config.steps, time.perf_counter() - started


def checked(config_path: Path) -> tuple[int, float]:
    """``run_steps`` as ``dimtensor-train run`` calls it: returns (steps, seconds)."""
    import torch

    from training.cli import _build
    from training.distributed import join
    from training.tracking import Tracker

    job = _build(config_path)
    world = join("cpu")
    torch.use_deterministic_algorithms(True)
    tracker = Tracker(job.store.folder, True, "bench", {})
    from training.loop import run_steps

    started = time.perf_counter()
    steps = run_steps(job.task, job.config, world, job.store, tracker, lambda: False)
    seconds = time.perf_counter() - started
    tracker.close()
    return steps, seconds


def child(kind: str, config_path: Path) -> None:
    steps, seconds = (bare if kind == "bare" else checked)(config_path)
    print(json.dumps({"kind": kind, "steps": steps, "seconds": seconds}))


def run(steps: int, repeats: int) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        for attempt in range(repeats):
            for kind in ("bare", "dimtensor-train"):
                folder = Path(tmp) / f"{kind}-{attempt}"
                folder.mkdir()
                config = folder / "train.yaml"
                config.write_text(yaml.safe_dump(config_for(steps, folder / "ckpt")))
                argv = [sys.executable, "-m", "bench.training", "--child", kind, str(config)]
                if len(os.sched_getaffinity(0)) > 1:
                    argv = ["taskset", "-c", "0", *argv]
                env = {**os.environ, "TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
                done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
                if done.returncode != 0:
                    raise SystemExit(f"{kind} failed: {done.stderr[-2000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if kind not in best or result["seconds"] < best[kind]["seconds"]:
                    best[kind] = result
    return [best["bare"], best["dimtensor-train"]]


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: steps/s and the ratio to the bare loop."""
    lines = ["| loop | steps | seconds | steps/s | vs bare |", "|---|---|---|---|---|"]
    base = results[0]["steps"] / results[0]["seconds"]
    for r in results:
        rate = r["steps"] / r["seconds"]
        cells = [r["kind"], f"{r['steps']:,}", f"{r['seconds']:.2f}", f"{rate:,.1f}"]
        lines.append("| " + " | ".join([*cells, f"{rate / base:.2f}x"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CONFIG"))
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    print(table(run(args.steps, args.repeats)))


if __name__ == "__main__":
    main()
