"""The output folder: what each part says about itself, what a rerun trusts, and what merge
refuses."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dimtensor import DimArray

from batch.config import config_hash, load_config
from batch.dimarrays import read_dimarrays
from batch.merge import MERGED, SUMMARY
from batch.parts import METADATA_KEY
from jobkit.exits import ExitCode
from service import __version__
from tests.support.jobs import BATCH, PROJECTILE_SWEEP, rows_of

cli, write_config = BATCH.cli, BATCH.write_config

PART0 = "part-00000-of-00002.parquet"
PART1 = "part-00001-of-00002.parquet"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def done(tmp_path: Path) -> Path:
    """A projectile sweep run in two shards; returns its config."""
    config = write_config(tmp_path, PROJECTILE_SWEEP)
    assert cli("run", config, "--shards", "2") == 0
    return config


def test_each_part_names_its_run_and_its_record_describes_its_bytes(
    tmp_path: Path, done: Path
) -> None:
    out = tmp_path / "out"
    meta = json.loads(pq.read_schema(out / PART1).metadata[METADATA_KEY])
    assert meta == {
        "kind": "sweep",
        # the projectile declares a validity domain: its policy is part of the identity
        "config_sha256": config_hash(load_config(done), {"domain_policy": "flag"}),
        "model": "projectile",
        "version": "1",
        "weights_sha256": None,  # analytic: no weights
        "package_version": __version__,
        "shard": 1,
        "shards": 2,
        "row_range": [25, 50],
    }
    record = json.loads((out / "part-00001-of-00002.done.json").read_text())
    assert record["rows"] == pq.read_metadata(out / PART1).num_rows == 25
    assert record["size"] == (out / PART1).stat().st_size
    assert record["sha256"] == _sha(out / PART1)
    assert record["identity"]["config_sha256"] == meta["config_sha256"]


def test_weights_are_identified_by_their_checksum(tmp_path: Path, mlp_env: Path) -> None:
    doc = {
        "kind": "sweep",
        "model": "mlp",
        "parameters": {
            "length": {"unit": "m", "values": [1, 2]},
            "speed": {"unit": "m/s", "value": 3},
            "mass": {"unit": "kg", "value": 4},
            "duration": {"unit": "s", "value": 5},
        },
    }
    assert cli("run", write_config(tmp_path, doc)) == 0
    meta = json.loads(
        pq.read_schema(tmp_path / "out" / "part-00000-of-00001.parquet").metadata[METADATA_KEY]
    )
    assert meta["weights_sha256"] == _sha(mlp_env / "mlp" / "1" / "weights.safetensors")


def test_pandas_reads_the_units_from_the_schema(tmp_path: Path, done: Path) -> None:
    assert cli("merge", done) == 0
    frame = pd.read_parquet(tmp_path / "out" / MERGED)
    assert frame.attrs["units"]["speed"] == "km/h"
    assert frame.attrs["dimensions"]["range"] == "length"
    assert len(frame) == 50


def test_dimtensor_users_get_dimarrays_back_in_one_call(tmp_path: Path, done: Path) -> None:
    arrays = read_dimarrays(tmp_path / "out" / PART0)
    assert set(arrays) == {"row", "speed", "angle", "g", "range", "apex_height", "flight_time"}
    speed = arrays["speed"]
    assert isinstance(speed, DimArray)
    si = speed.to_base_units()
    np.testing.assert_allclose(si.data, speed.data / 3.6)
    assert arrays["range"].dimension == arrays["apex_height"].dimension


def test_an_absolute_temperature_column_comes_back_in_kelvin(tmp_path: Path) -> None:
    field = pa.field("t", pa.float64(), metadata={b"unit": b"degC", b"dimension": b"temperature"})
    pq.write_table(
        pa.table([pa.array([0.0, 100.0])], schema=pa.schema([field])), tmp_path / "t.parquet"
    )
    kelvin = read_dimarrays(tmp_path / "t.parquet")["t"]
    np.testing.assert_allclose(kelvin.data, [273.15, 373.15])
    assert kelvin.unit.symbol == "K"


def test_a_rerun_skips_complete_shards(
    tmp_path: Path, done: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert cli("run", done, "--shards", "2") == 0
    assert capsys.readouterr().err.count("already complete") == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "lose the record", "lose the part"])
def test_a_damaged_shard_is_redone_and_ends_as_the_original(
    tmp_path: Path, done: Path, damage: str
) -> None:
    out = tmp_path / "out"
    original = rows_of(out)
    part, record = out / PART1, out / "part-00001-of-00002.done.json"
    if damage == "truncate":
        part.write_bytes(part.read_bytes()[:100])
    elif damage == "flip a byte":
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
    elif damage == "lose the record":
        record.unlink()
    else:
        part.unlink()
    assert cli("merge", done) == ExitCode.INCOMPLETE
    assert cli("run", done, "--shards", "2") == 0
    assert rows_of(out).equals(original)
    assert cli("merge", done) == 0


def test_merge_refuses_missing_incomplete_and_foreign_shards_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, {**PROJECTILE_SWEEP, "shards": 3})
    assert cli("run", config, "--shard", "0") == 0
    assert cli("run", config, "--shard", "2") == 0
    out = tmp_path / "out"
    (out / "part-00002-of-00003.parquet").write_bytes(b"PAR1 not really")
    record0 = out / "part-00000-of-00003.done.json"
    doc = json.loads(record0.read_text())
    doc["identity"]["config_sha256"] = "0" * 64
    record0.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cli("merge", config) == ExitCode.INCOMPLETE
    message = capsys.readouterr().err
    assert "3 of 3 shards are not complete" in message
    assert "shard 1/3: part-00000-of-00003.parquet was written by another run" in message
    assert "shard 2/3: part-00001-of-00003.parquet is missing" in message
    assert "shard 3/3: part-00002-of-00003.parquet does not match its record" in message
    assert not (out / MERGED).exists()
    assert not (out / SUMMARY).exists()


def test_a_stale_temporary_file_of_a_killed_run_is_removed(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROJECTILE_SWEEP)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".part-00000-of-00001.parquet.host-1-dead.tmp"
    fresh = out / ".part-00000-of-00001.parquet.host-2-live.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert cli("run", config) == 0
    assert not stale.exists()
    assert fresh.exists()  # another writer's file, touched recently: left alone
    assert cli("merge", config) == 0
    assert not fresh.exists()  # after a merge no writer of the run is left


def test_merge_needs_no_shard_index(
    tmp_path: Path, done: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge pod copied from the Job's pod spec may carry the Job's environment."""
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "")
    monkeypatch.setenv("BATCH_SHARDS", "2")
    assert cli("merge", done) == 0
