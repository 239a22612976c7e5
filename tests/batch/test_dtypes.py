"""Column types of batch output: outputs in the dtype the model computes in (float32 for the
server's architectures) unless the job widens them (``output_dtype: float64``); the inputs
of a ``predict`` job in the input file's own types; a resumed run writes every part alike,
and an output folder of one choice is never resumed under the other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from batch.merge import MERGED, SUMMARY
from jobkit.exits import ExitCode
from tests.support.jobs import BATCH, PROJECTILE_SWEEP, rows_of

cli, write_config = BATCH.cli, BATCH.write_config

F32, F64 = pa.float32(), pa.float64()
SWEEP_INPUTS = ("speed", "angle", "g")
SWEEP_OUTPUTS = ("range", "apex_height", "flight_time")
MLP_INPUTS = {"length": "cm", "speed": "km/h", "mass": "g", "duration": "ms"}
MLP_OUTPUTS = ("energy", "power")


def write_measurements(path: Path, types: dict[str, pa.DataType], rows: int = 200) -> Path:
    """The MLP's four inputs, each column of the type asked for (float64 if not given)."""
    rng = np.random.default_rng(3)
    kinds = {n: types.get(n, F64) for n in MLP_INPUTS}
    fields = [pa.field(n, kinds[n], metadata={b"unit": u.encode()}) for n, u in MLP_INPUTS.items()]
    arrays = [pa.array(rng.uniform(1, 500, rows)).cast(kinds[n], safe=False) for n in kinds]
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path)
    return path


def types_of(folder: Path, names: tuple[str, ...] | list[str]) -> list[pa.DataType]:
    schema = pq.read_schema(sorted(folder.glob("part-*.parquet"))[0])
    return [schema.field(n).type for n in names]


# config changes -> the type of every input column, the type of every output column
SWEEPS = [
    pytest.param({}, F64, F32, id="outputs-in-the-models-float32"),
    pytest.param({"output_dtype": "model"}, F64, F32, id="model-said-explicitly"),
    pytest.param({"output_dtype": "float64"}, F64, F64, id="widened"),
]


@pytest.mark.parametrize(("changes", "inputs", "outputs"), SWEEPS)
def test_a_sweeps_columns(
    tmp_path: Path, changes: dict[str, Any], inputs: pa.DataType, outputs: pa.DataType
) -> None:
    assert cli("run", write_config(tmp_path, {**PROJECTILE_SWEEP, **changes})) == 0
    assert types_of(tmp_path / "out", SWEEP_INPUTS) == [inputs] * 3
    assert types_of(tmp_path / "out", SWEEP_OUTPUTS) == [outputs] * 3


def test_widened_outputs_hold_exactly_the_models_float32_values(tmp_path: Path) -> None:
    for name, changes in (("narrow", {}), ("wide", {"output_dtype": "float64"})):
        (tmp_path / name).mkdir()
        assert cli("run", write_config(tmp_path / name, {**PROJECTILE_SWEEP, **changes})) == 0
    narrow, wide = rows_of(tmp_path / "narrow" / "out"), rows_of(tmp_path / "wide" / "out")
    for column in SWEEP_OUTPUTS:
        assert wide[column].to_numpy().tolist() == narrow[column].to_numpy().tolist()


@pytest.mark.parametrize(
    ("types", "changes", "outputs"),
    [
        pytest.param(dict.fromkeys(MLP_INPUTS, F64), {}, F32, id="float64-file"),
        pytest.param(dict.fromkeys(MLP_INPUTS, F32), {}, F32, id="float32-file"),
        pytest.param(
            {"length": F32, "speed": F64, "mass": pa.int32(), "duration": pa.float16()},
            {},
            F32,
            id="mixed-file",
        ),
        pytest.param(
            dict.fromkeys(MLP_INPUTS, F32), {"output_dtype": "float64"}, F64, id="widened"
        ),
    ],
)
def test_a_predict_job_echoes_its_inputs_in_the_files_types(
    tmp_path: Path,
    mlp_env: Path,
    types: dict[str, pa.DataType],
    changes: dict[str, Any],
    outputs: pa.DataType,
) -> None:
    data = write_measurements(tmp_path / "m.parquet", types)
    job = {"kind": "predict", "model": "mlp", "input": str(data), **changes}
    assert cli("run", write_config(tmp_path, job)) == 0
    assert types_of(tmp_path / "out", list(MLP_INPUTS)) == list(types.values())
    assert types_of(tmp_path / "out", MLP_OUTPUTS) == [outputs] * 2
    table, source = rows_of(tmp_path / "out"), pq.read_table(data)
    for name in MLP_INPUTS:
        assert table[name].equals(source[name])  # the values as read, untouched


def test_a_csv_files_inputs_are_float64(tmp_path: Path, mlp_env: Path) -> None:
    csv = tmp_path / "m.csv"
    pacsv.write_csv(pq.read_table(write_measurements(tmp_path / "m.parquet", {})), csv)
    job = {"kind": "predict", "model": "mlp", "input": str(csv), "units": MLP_INPUTS}
    assert cli("run", write_config(tmp_path, job)) == 0
    assert types_of(tmp_path / "out", list(MLP_INPUTS)) == [F64] * 4
    assert types_of(tmp_path / "out", MLP_OUTPUTS) == [F32] * 2


def test_a_resumed_run_writes_every_part_alike_and_merges_float32(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**PROJECTILE_SWEEP, "shards": 3})
    assert cli("run", config, "--shard", "1") == 0  # a first pod, then the rest of the run
    assert cli("run", config) == 0
    out = tmp_path / "out"
    schemas = [pq.read_schema(p) for p in sorted(out.glob("part-*.parquet"))]
    assert len(schemas) == 3
    assert all(s.equals(schemas[0]) for s in schemas[1:])
    assert cli("merge", config) == 0
    merged = pq.read_table(out / MERGED)
    assert [merged.schema.field(n).type for n in SWEEP_OUTPUTS] == [F32] * 3
    # the summary claims a float32 column's precision: each statistic its nearest float32
    ranges = merged["range"].to_numpy()
    summary = json.loads((out / SUMMARY).read_text())["columns"]["range"]
    assert summary["min"] == float(str(ranges.min()))
    assert summary["max"] == float(str(ranges.max()))
    assert summary["mean"] == float(str(np.float32(ranges.astype(np.float64).mean())))
    assert summary["count"] == 50


WIDE: dict[str, Any] = {"output_dtype": "float64"}


@pytest.mark.parametrize(("first", "then"), [({}, WIDE), (WIDE, {})], ids=["widened", "narrowed"])
def test_a_folder_of_one_output_dtype_is_not_resumed_under_the_other(
    tmp_path: Path, first: dict[str, Any], then: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    started = write_config(tmp_path, {**PROJECTILE_SWEEP, **first, "shards": 2})
    assert cli("run", started, "--shard", "0") == 0
    config = write_config(tmp_path, {**PROJECTILE_SWEEP, **then, "shards": 2})
    assert cli("run", config) == ExitCode.CONFIG
    assert "config_sha256" in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 1  # nothing more written
