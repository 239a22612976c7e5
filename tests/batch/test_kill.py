"""Real processes killed mid-shard: SIGKILL loses nothing and duplicates nothing after a
rerun, SIGTERM stops at a row-group boundary with exit 75 keeping complete shards, and two
processes on one shard end with one correct file."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from jobkit.exits import ExitCode
from tests.support.jobs import BATCH, rows_of

cli, process, write_config = BATCH.cli, BATCH.process, BATCH.write_config

pytestmark = pytest.mark.slow

ROWS = 150_000
BIG_SWEEP = {
    "kind": "sweep",
    "model": "projectile",
    "parameters": {
        "speed": {"unit": "km/h", "linspace": [10, 100, 250]},
        "angle": {"unit": "deg", "linspace": [5, 85, 600]},
        "g": {"unit": "m/s^2", "value": 9.81},
    },
    "outputs": {"range": "m"},
    "shards": 3,
}
# Small row groups: many boundaries, and each shard takes long enough to be caught mid-write.
ENV = {"BATCH_CHUNK_ROWS": "50", "BATCH_PROGRESS_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The rows of an uninterrupted run of the same config."""
    folder = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENV.items():
            env.setenv(name, value)
        assert cli("run", write_config(folder, BIG_SWEEP)) == 0
    table = rows_of(folder / "out")
    assert table.num_rows == ROWS
    return table


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the job ended ({proc.returncode}) or stalled before {what}: {err}")
        time.sleep(0.002)


def _writing(out: Path, stem: str) -> Callable[[], bool]:
    """A temporary file of shard `stem` exists and holds at least one row group."""

    def check() -> bool:
        return any(p.stat().st_size > 0 for p in out.glob(f".{stem}.parquet.*.tmp"))

    return check


def _assert_exactly(table: pa.Table, reference: pa.Table) -> None:
    rows = table["row"].to_numpy()
    np.testing.assert_array_equal(rows, np.arange(ROWS))  # none lost, none twice
    assert table.equals(reference)


def _signalled_mid_shard(folder: Path, sig: signal.Signals) -> tuple[Path, Path, int, str]:
    """Run the big sweep as a real process and send `sig` while shard 2 is being written:
    returns the config, the output folder, the exit code and the log."""
    folder.mkdir()
    config = write_config(folder, BIG_SWEEP)
    out = folder / "out"
    proc = process("run", config, env=ENV)
    _wait_for(_writing(out, "part-00001-of-00003"), proc, "shard 2 started writing")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return config, out, proc.returncode, err


def test_sigkill_mid_shard_then_rerun_gives_exactly_the_rows_of_an_uninterrupted_run(
    tmp_path: Path, reference: pa.Table
) -> None:
    config, out, code, _ = _signalled_mid_shard(tmp_path / "killed", signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (out / "part-00001-of-00003.done.json").exists()  # killed mid-shard
    assert list(out.glob(".part-00001-of-00003.parquet.*.tmp"))  # its half-written file

    assert cli("merge", config) == ExitCode.INCOMPLETE  # nothing lies in the meantime
    rerun = process("run", config, env=ENV)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "shard 1/3: already complete" in err
    _assert_exactly(rows_of(out), reference)
    assert cli("merge", config) == 0
    assert not list(out.glob(".*.tmp"))


def test_sigterm_stops_at_a_row_group_boundary_with_exit_75_and_keeps_complete_shards(
    tmp_path: Path, reference: pa.Table
) -> None:
    config, out, code, err = _signalled_mid_shard(tmp_path / "stopped", signal.SIGTERM)
    assert code == ExitCode.INTERRUPTED, err
    assert "SIGTERM received: stopping at the next row-group boundary" in err
    assert "shard 2/3: stopped by a signal after" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00000-of-00003.done.json",
        "part-00000-of-00003.parquet",
    ]  # the complete shard kept, the unfinished one discarded (no temporary file left)

    rerun = process("run", config, env=ENV)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    _assert_exactly(rows_of(out), reference)


def test_two_processes_on_one_shard_end_with_one_correct_file(
    tmp_path: Path, reference: pa.Table
) -> None:
    folder = tmp_path / "twice"
    folder.mkdir()
    config = write_config(folder, BIG_SWEEP)
    out = folder / "out"
    first = process("run", config, "--shard", "1", env=ENV)
    _wait_for(_writing(out, "part-00001-of-00003"), first, "the first process started writing")
    first.send_signal(signal.SIGSTOP)  # held mid-shard while the second one starts
    second = process("run", config, "--shard", "1", env=ENV)
    temps = lambda: len(list(out.glob(".part-00001-of-00003.parquet.*.tmp"))) == 2  # noqa: E731
    _wait_for(temps, second, "both processes writing the same shard")
    first.send_signal(signal.SIGCONT)
    digests = set()
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        wrote = next(ln for ln in err.splitlines() if "shard 2/3: wrote part-00001-of-00003" in ln)
        digests.add(wrote.rsplit("sha256 ", 1)[1])
    assert len(digests) == 1  # both wrote the same bytes: no timestamp, nothing random
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00001-of-00003.done.json",
        "part-00001-of-00003.parquet",
    ]
    start, stop = ROWS // 3, 2 * ROWS // 3
    assert rows_of(out).equals(reference.slice(start, stop - start))
    assert cli("run", config) == 0  # the other shards; the shared one is trusted as it is
    assert cli("merge", config) == 0


def test_a_real_process_exits_with_the_documented_codes(tmp_path: Path) -> None:
    bad = write_config(tmp_path, {**BIG_SWEEP, "model": "catapult"})
    proc = process("validate", bad)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CONFIG
    assert "unknown model 'catapult'" in err
    proc = process("run", bad, env={"JOB_COMPLETION_INDEX": ""})
    proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CONFIG
    assert not (tmp_path / "out").exists()
