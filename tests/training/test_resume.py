"""A training process killed at any moment resumes from its newest complete checkpoint and
ends with the weights of an uninterrupted run, bit for bit (CPU, deterministic mode)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from jobkit.exits import ExitCode
from tests.support.jobs import TRAINING, final_weights, oscillator
from training.checkpoints import MARKER, STATE, CheckpointStore

cli, process, write_config = TRAINING.cli, TRAINING.process, TRAINING.write_config

pytestmark = pytest.mark.slow

# Long enough to be caught mid-run (about 6 ms a step), checkpointed every 50 steps.
RUN = oscillator(steps=700, lbfgs_steps=100)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    config = write_config(tmp_path_factory.mktemp("whole"), RUN)
    assert cli("run", config) == 0
    return final_weights(config)


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name  # bit for bit


def _wait_for_checkpoint(folder: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not list(folder.glob(f"step-*/{MARKER}")):
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        assert proc.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor], sig: signal.Signals
) -> None:
    config = write_config(tmp_path, RUN)
    proc = process("run", config)
    _wait_for_checkpoint(tmp_path / "ckpt", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    done = [int(p.parent.name.split("-")[1]) for p in (tmp_path / "ckpt").glob(f"step-*/{MARKER}")]
    assert max(done) < 800, "the run finished before the signal"
    if sig == signal.SIGTERM:
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert "SIGTERM received: stopping at the next step" in err
        stopped = int(err.split("stopped by a signal at step ")[1].split()[0])
        assert stopped in done  # saved at the step it stopped on, not only every 50
    else:
        assert proc.returncode == -signal.SIGKILL
    resumed = process("run", config)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resumed from {tmp_path / 'ckpt'}/step-" in err
    _assert_same(final_weights(config), uninterrupted)


def test_a_torn_checkpoint_is_ignored(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    config = write_config(tmp_path, RUN)
    assert cli("run", config) == 0
    store = CheckpointStore(tmp_path / "ckpt", "")
    newest = store.complete()[-1]
    # A newer checkpoint whose state never got its marker, and one whose bytes were cut.
    torn = tmp_path / "ckpt" / "step-00000900"
    torn.mkdir()
    (torn / STATE).write_bytes((newest.path / STATE).read_bytes())
    cut = tmp_path / "ckpt" / "step-00000950"
    cut.mkdir()
    (cut / STATE).write_bytes((newest.path / STATE).read_bytes()[:100])
    (cut / MARKER).write_text(json.dumps({"step": 950, "sha256": "0" * 64}))
    assert [c.step for c in store.complete()][-1] == newest.step
    assert cli("run", config) == 0  # nothing left to train: the newest complete is final
    _assert_same(final_weights(config), uninterrupted)
