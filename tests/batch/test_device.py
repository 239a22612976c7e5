"""A batch job computes where the server would: it reads ``MODEL_DEVICE`` through the server's
settings and loads through the same runtime, so the same value means the same device and the
same refusal, here a configuration error (exit 2) before any row is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.procs import WAIT_SECONDS
from jobkit.exits import ExitCode
from tests.support.jobs import BATCH, PROJECTILE_SWEEP


def test_cuda_without_a_visible_gpu_exits_2_saying_what_torch_sees(tmp_path: Path) -> None:
    config = BATCH.write_config(tmp_path, PROJECTILE_SWEEP)
    # CUDA_VISIBLE_DEVICES="": torch sees no GPU, whatever the machine has
    proc = BATCH.process("run", config, env={"MODEL_DEVICE": "cuda", "CUDA_VISIBLE_DEVICES": ""})
    _, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == ExitCode.CONFIG, err
    assert "MODEL_DEVICE: Value error, 'cuda' expects a visible GPU, but torch" in err
    assert "sees none" in err
    assert not (tmp_path / "out").exists()


def test_the_job_loads_its_model_on_the_device_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_DEVICE", "cpu")
    assert BATCH.cli("run", BATCH.write_config(tmp_path, PROJECTILE_SWEEP)) == 0
    assert "INFO sweep of projectile/1 on cpu: 50 rows" in capsys.readouterr().err
