"""Two CPU processes under torchrun (gloo), started by ``dimtensor-train launch`` from
Kubeflow's PET_* environment, follow the one-process run with the same global batch."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.ports import free_port
from jobkit.exits import ExitCode
from service.models import ModelRepository
from tests.support.jobs import TRAINING, final_weights, oscillator

cli, process, write_config = TRAINING.cli, TRAINING.process, TRAINING.write_config

pytestmark = pytest.mark.slow

# Adam only: L-BFGS's line search would amplify rounding differences into another path.
RUN = oscillator(steps=200, lbfgs_steps=0, batch=256, checkpoint_every=100)
TOLERANCE = 1e-4  # of the initial amplitude, after 200 steps (measured: 4e-7)


def test_two_processes_under_torchrun_match_one(tmp_path: Path) -> None:
    single = write_config(tmp_path / "one", RUN, export="osc")
    assert cli("run", single) == 0
    double = write_config(tmp_path / "two", RUN, export="osc")
    env = {
        "PET_NNODES": "1",
        "PET_NPROC_PER_NODE": "2",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": str(free_port()),
        "JOB_COMPLETION_INDEX": "0",  # launch turns it into PET_NODE_RANK
        "OMP_NUM_THREADS": "1",
    }
    proc = process("launch", double, env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "world size 2" in err
    assert "launching: -m torch.distributed.run --module training run" in err
    assert out.count('"final": true') == 1  # rank 0 alone reports, checkpoints and exports
    assert sorted(p.name for p in (tmp_path / "two" / "models" / "osc").iterdir()) == ["1"]
    t = np.linspace(0, 4, 401)
    outputs = []
    for folder in ("one", "two"):
        model = ModelRepository.load(tmp_path / folder / "models").get("osc")
        outputs.append(model.predict([t])[0])
    difference = np.max(np.abs(outputs[0] - outputs[1]))
    assert difference < TOLERANCE * 0.10, f"largest difference {difference:.3e} m"
    a, b = final_weights(single), final_weights(double)
    # Two processes really ran: their sums were rounded in another order.
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_launch_refuses_a_bad_config_before_starting_anything(
    tmp_path: Path,
) -> None:
    bad = write_config(tmp_path, oscillator(problem="navier_stokes"))
    proc = process("launch", bad, env={"PET_NPROC_PER_NODE": "2"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CONFIG
    assert "navier_stokes" in err
    assert "launching" not in err


def test_sigterm_under_torchrun_saves_once_and_launch_exits_75(tmp_path: Path) -> None:
    """The pod's SIGTERM reaches launch (PID 1), torchrun and both workers; they agree on a
    step, rank 0 saves it, and launch exits 75, not torchrun's 1 (resuming: test_resume.py)."""
    config = write_config(tmp_path, oscillator(steps=3000, lbfgs_steps=0, checkpoint_every=50))
    env = {
        "PET_NNODES": "1",
        "PET_NPROC_PER_NODE": "2",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": str(free_port()),
        "OMP_NUM_THREADS": "1",
    }
    proc = process("launch", config, env=env)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "ckpt").glob("step-*/COMMITTED")):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "stopped by SIGTERM: the workers saved a checkpoint" in err
    stopped = int(err.split("stopped by a signal at step ")[1].split()[0])
    assert (tmp_path / "ckpt" / f"step-{stopped:08d}" / "COMMITTED").is_file()
    assert err.count("stopped by a signal at step") == 2  # both ranks, the same step
    assert len(set(err.split("stopped by a signal at step ")[i].split()[0] for i in (1, 2))) == 1
