"""``predict``: batch inference over a file is the server's ``/predict`` on the same rows,
with units from the file's schema or the config, and bad rows named by their number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from jobkit.exits import ExitCode
from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings
from service.tensors import FloatArray
from tests.support.asgi import PortalClient, portal_client
from tests.support.jobs import BATCH, rows_of

cli, write_config = BATCH.cli, BATCH.write_config

ROWS = 1000
CHUNK = 100
UNITS = {"length": "cm", "speed": "km/h", "mass": "g", "duration": "ms"}


def measurements(rows: int = ROWS, seed: int = 0) -> dict[str, FloatArray]:
    rng = np.random.default_rng(seed)
    return {
        "length": rng.uniform(1, 500, rows),
        "speed": rng.uniform(1, 200, rows),
        "mass": rng.uniform(10, 5000, rows),
        "duration": rng.uniform(1, 1000, rows),
    }


def write_parquet(path: Path, values: dict[str, FloatArray], *, with_units: bool = True) -> Path:
    fields = [pa.field("id", pa.string())]
    for name in values:
        meta = {b"unit": UNITS[name].encode()} if with_units else None
        fields.append(pa.field(name, pa.float64(), metadata=meta))
    ids = pa.array([f"m{i:05d}" for i in range(len(values["length"]))])
    table = pa.Table.from_arrays([ids, *map(pa.array, values.values())], schema=pa.schema(fields))
    pq.write_table(table, path, row_group_size=len(ids))  # one group: chunks of CHUNK rows
    return path


def predict_job(path: Path, **extra: Any) -> dict[str, Any]:
    return {"kind": "predict", "model": "mlp", "input": str(path), "keep": ["id"], **extra}


@pytest.fixture
def mlp_client(mlp_repository: Path) -> Iterator[PortalClient]:
    """The server's app over the same repository, called in process."""
    settings = Settings(model_repository=mlp_repository, max_rows=CHUNK)
    app = create_app(settings, repository=ModelRepository.load(mlp_repository))
    with portal_client(app) as client:
        yield client


def test_predict_over_a_file_equals_the_servers_predict_on_the_same_rows(
    tmp_path: Path, mlp_env: Path, mlp_client: PortalClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = measurements()
    data = write_parquet(tmp_path / "measurements.parquet", values)
    outputs = {"energy": "kJ", "power": "mW"}
    monkeypatch.setenv("BATCH_CHUNK_ROWS", str(CHUNK))
    assert (
        cli("run", write_config(tmp_path, predict_job(data, outputs=outputs)), "--shards", "2") == 0
    )
    table = rows_of(tmp_path / "out")
    assert table["row"].to_pylist() == list(range(ROWS))
    assert table["id"].to_pylist() == [f"m{i:05d}" for i in range(ROWS)]
    for name, column in values.items():
        np.testing.assert_array_equal(table[name].to_numpy(), column)
    for start in range(0, ROWS, CHUNK):  # the same rows per request as per chunk
        body = {
            "model": "mlp",
            "inputs": {
                n: {"value": v[start : start + CHUNK].tolist(), "unit": UNITS[n]}
                for n, v in values.items()
            },
            "outputs": outputs,
        }
        answer = mlp_client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        for name, unit in outputs.items():
            out = answer.json()["outputs"][name]
            assert out["unit"] == unit
            # float32 columns; the server's JSON text reads back to the same float32 values
            answered = np.asarray(out["value"], dtype=np.float32)
            assert table[name].type == pa.float32()
            assert table[name].to_numpy()[start : start + CHUNK].tolist() == answered.tolist()


def test_a_csv_with_a_units_map_scores_like_a_parquet_file_with_units(
    tmp_path: Path, mlp_env: Path
) -> None:
    values = measurements(300)
    parquet = write_parquet(tmp_path / "m.parquet", values)
    csv = tmp_path / "m.csv"
    pacsv.write_csv(pq.read_table(parquet), csv)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert cli("run", write_config(tmp_path / "a", predict_job(parquet))) == 0
    assert (
        cli("run", write_config(tmp_path / "b", predict_job(csv, units=UNITS)), "--shards", "3")
        == 0
    )
    a, b = rows_of(tmp_path / "a" / "out"), rows_of(tmp_path / "b" / "out")
    assert a.column_names == b.column_names
    for name in ("energy", "power", "length"):
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy())
    unit_of = {f.name: f.metadata[b"unit"].decode() for f in a.schema if f.metadata}
    assert unit_of["length"] == "cm"
    assert unit_of["energy"] == "J"


def test_a_non_finite_value_fails_its_shard_with_exit_3_naming_the_row(
    tmp_path: Path, mlp_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = measurements(200)
    values["speed"][137] = np.nan
    data = write_parquet(tmp_path / "m.parquet", values)
    config = write_config(tmp_path, predict_job(data))
    assert cli("run", config, "--shard", "0", "--shards", "2") == 0
    assert cli("run", config, "--shard", "1", "--shards", "2") == ExitCode.INPUT
    message = capsys.readouterr().err
    assert "row 137: input 'speed': expected finite numbers, received nan" in message
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00000-of-00002.done.json",
        "part-00000-of-00002.parquet",
    ]  # no part, record or temporary file of the failed shard


def test_a_bad_csv_cell_fails_its_shard_with_exit_3(
    tmp_path: Path, mlp_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("length,speed,mass,duration\n1,2,3,4\n1,fast,3,4\n")
    config = write_config(tmp_path, predict_job(csv, units=UNITS, keep=[]))
    assert cli("run", config) == ExitCode.INPUT
    assert "fast" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.parquet"))


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"input": "absent.parquet"}, ["absent.parquet: no such file"]),
        ({"keep": ["serial"]}, ["no column 'serial'", "received ['id', 'length'"]),
        ({"units": {"length": "m"}}, ["'length' is in 'cm' by the file's schema", "says 'm'"]),
        ({"units": {"volume": "L"}}, ["units: 'volume' is not an input of the model"]),
        (
            {"units": {**UNITS, "length": "kg"}, "input": "NOUNITS"},
            ["input 'length'", "'kg'", "mass"],
        ),
        ({"input": "NOUNITS"}, ["column 'length' has no unit", "units: {length: m}"]),
        ({"keep": ["length"]}, ["keep: 'length' is a model input"]),
        ({"input": "data.txt"}, ["cannot tell the format from the suffix '.txt'"]),
    ],
)
def test_a_predict_config_the_file_cannot_satisfy_exits_2_before_any_work(
    tmp_path: Path,
    mlp_env: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    fragments: list[str],
) -> None:
    with_units = write_parquet(tmp_path / "m.parquet", measurements(10))
    without = write_parquet(tmp_path / "plain.parquet", measurements(10), with_units=False)
    (tmp_path / "data.txt").write_text("x\n")
    doc = predict_job(with_units, **change)
    doc["input"] = {"NOUNITS": str(without)}.get(doc["input"], str(tmp_path / doc["input"]))
    assert cli("run", write_config(tmp_path, doc)) == ExitCode.CONFIG
    message = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "out").exists()


def test_predict_reads_the_units_a_sweep_wrote(tmp_path: Path) -> None:
    """A sweep's output is a predict input as it stands: its schema carries the units."""
    (tmp_path / "sweep").mkdir()
    (tmp_path / "scored").mkdir()
    sweep = {
        "kind": "sweep",
        "model": "projectile",
        "parameters": {
            "speed": {"unit": "km/h", "values": [36, 72]},
            "angle": {"unit": "deg", "values": [30, 45]},
            "g": {"unit": "ft/s^2", "value": 32.174},
        },
        "outputs": {"range": "km"},
    }
    assert cli("run", write_config(tmp_path / "sweep", sweep)) == 0
    swept = tmp_path / "sweep" / "out" / "part-00000-of-00001.parquet"
    job = {
        "kind": "predict",
        "model": "projectile",
        "input": str(swept),
        "outputs": {"range": "km"},
    }
    assert cli("run", write_config(tmp_path / "scored", job)) == 0
    a, b = rows_of(tmp_path / "sweep" / "out"), rows_of(tmp_path / "scored" / "out")
    assert b.column_names == a.column_names
    assert b.equals(a)
