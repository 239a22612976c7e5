"""Sweeps and Monte Carlo studies: sharding changes nothing, seeds reproduce, and the
analytic projectile agrees with its formula through every unit conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from batch.merge import MERGED, QUANTILES, SUMMARY
from tests.support.jobs import BATCH, MONTE_CARLO, PROJECTILE_SWEEP, rows_of

cli, write_config = BATCH.cli, BATCH.write_config


def test_a_sweep_sharded_three_ways_and_merged_equals_the_unsharded_sweep(tmp_path: Path) -> None:
    (tmp_path / "whole").mkdir()
    (tmp_path / "split").mkdir()
    whole = write_config(tmp_path / "whole", PROJECTILE_SWEEP)
    split = write_config(tmp_path / "split", PROJECTILE_SWEEP)
    assert cli("run", whole) == 0
    assert cli("run", split, "--shards", "3") == 0
    assert cli("merge", split, "--shards", "3") == 0
    one = pq.read_table(tmp_path / "whole" / "out" / "part-00000-of-00001.parquet")
    merged = pq.read_table(tmp_path / "split" / "out" / MERGED)
    assert merged.num_rows == one.num_rows == 50
    assert merged.replace_schema_metadata(None).equals(one.replace_schema_metadata(None))
    parts = sorted((tmp_path / "split" / "out").glob("part-*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in parts] == [16, 17, 17]


def test_the_grid_is_the_full_cross_product_in_the_listed_order(tmp_path: Path) -> None:
    assert cli("run", write_config(tmp_path, PROJECTILE_SWEEP)) == 0
    table = rows_of(tmp_path / "out")
    speeds = np.repeat(np.linspace(10, 100, 10), 5)
    angles = np.tile([15.0, 30, 45, 60, 75], 10)
    np.testing.assert_array_equal(table["row"].to_numpy(), np.arange(50))
    np.testing.assert_array_equal(table["speed"].to_numpy(), speeds)
    np.testing.assert_array_equal(table["angle"].to_numpy(), angles)
    np.testing.assert_array_equal(table["g"].to_numpy(), np.full(50, 9.81))


def test_the_projectile_sweep_agrees_with_its_formula_in_the_units_asked_for(
    tmp_path: Path,
) -> None:
    doc = {**PROJECTILE_SWEEP, "outputs": {"range": "km", "flight_time": "ms", "apex_height": "ft"}}
    assert cli("run", write_config(tmp_path, doc)) == 0
    t = rows_of(tmp_path / "out")
    v = t["speed"].to_numpy() / 3.6  # km/h -> m/s
    theta = np.radians(t["angle"].to_numpy())
    g = t["g"].to_numpy()
    np.testing.assert_allclose(
        t["range"].to_numpy(), v**2 * np.sin(2 * theta) / g / 1000, rtol=1e-5
    )
    np.testing.assert_allclose(
        t["flight_time"].to_numpy(), 2 * v * np.sin(theta) / g * 1000, rtol=1e-5
    )
    apex_m = v**2 * np.sin(theta) ** 2 / (2 * g)
    np.testing.assert_allclose(t["apex_height"].to_numpy(), apex_m / 0.3048, rtol=1e-5)


def test_output_columns_carry_their_units_and_dimensions(tmp_path: Path) -> None:
    assert cli("run", write_config(tmp_path, PROJECTILE_SWEEP)) == 0
    schema = pq.read_schema(tmp_path / "out" / "part-00000-of-00001.parquet")
    meta = {
        f.name: (f.metadata[b"unit"].decode(), f.metadata[b"dimension"].decode())
        for f in schema
        if f.metadata  # the domain flag columns are not quantities
    }
    assert schema.names[-2:] == ["outside_domain", "outside_domain_inputs"]
    assert meta == {
        "row": ("1", "dimensionless"),
        "speed": ("km/h", "length*time^-1"),
        "angle": ("deg", "dimensionless"),
        "g": ("m/s^2", "length*time^-2"),
        "range": ("m", "length"),
        "apex_height": ("m", "length"),  # not asked for: the model's unit
        "flight_time": ("s", "time"),
    }


@pytest.mark.parametrize("counts", [(1, 3), (2, 7), (4, 5)])
def test_monte_carlo_rows_depend_on_the_seed_not_on_the_shard_count(
    tmp_path: Path, counts: tuple[int, int]
) -> None:
    doc = {**MONTE_CARLO, "samples": 70_000}  # more than one draw block (65,536 rows)
    tables = []
    for n in counts:
        (tmp_path / str(n)).mkdir()
        assert cli("run", write_config(tmp_path / str(n), doc), "--shards", str(n)) == 0
        tables.append(rows_of(tmp_path / str(n) / "out"))
    assert tables[0].num_rows == 70_000
    assert tables[0].equals(tables[1])


def test_another_seed_draws_other_rows_from_the_distributions_asked_for(tmp_path: Path) -> None:
    tables = []
    for seed in (1, 2):
        (tmp_path / str(seed)).mkdir()
        doc = {**MONTE_CARLO, "seed": seed, "samples": 20_000}
        assert cli("run", write_config(tmp_path / str(seed), doc)) == 0
        tables.append(rows_of(tmp_path / str(seed) / "out"))
    a, b = (t["speed"].to_numpy() for t in tables)
    assert not np.array_equal(a, b)
    # 20,000 draws: the sample mean is within 5 standard errors of 20 m/s, the std near 2.
    assert abs(a.mean() - 20) < 5 * 2 / np.sqrt(20_000)
    assert abs(a.std() - 2) < 0.1
    angle = tables[0]["angle"].to_numpy()
    assert angle.min() >= 20
    assert angle.max() < 70
    assert abs(np.median(tables[0]["g"].to_numpy()) - 9.81) < 0.01


def test_merge_writes_a_summary_with_units_and_quantiles(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROJECTILE_SWEEP)
    assert cli("run", config, "--shards", "2") == 0
    assert cli("merge", config) == 0  # the count comes from the records
    summary = json.loads((tmp_path / "out" / SUMMARY).read_text())
    assert summary["rows"] == 50
    assert summary["shards"] == 2
    speed = summary["columns"]["speed"]
    assert speed["unit"] == "km/h"
    assert speed["dimension"] == "length*time^-1"
    assert (speed["count"], speed["min"], speed["max"], speed["mean"]) == (50, 10.0, 100.0, 55.0)
    assert list(speed["quantiles"]) == [f"{q:g}" for q in QUANTILES]
    assert speed["quantiles"]["0.5"] == 55.0
    assert summary["run"]["model"] == "projectile"
    assert summary["run"]["kind"] == "sweep"


def test_merge_true_lets_the_shard_that_completes_the_set_merge(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**PROJECTILE_SWEEP, "merge": True, "shards": 2})
    assert cli("run", config, "--shard", "1") == 0
    assert not (tmp_path / "out" / MERGED).exists()  # shard 0 is not done yet
    assert cli("run", config, "--shard", "0") == 0
    assert pq.read_metadata(tmp_path / "out" / MERGED).num_rows == 50
