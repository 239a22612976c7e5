"""The invariants of splitting: shards partition the rows, and any row range of a design is
the same rows as the slice of the whole (so no split can change a row)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.config import MonteCarloJob, Parameter, SweepJob
from batch.designs import BLOCK, Grid, MonteCarlo, design_for
from batch.shards import Shard, shard_count, shards_to_run


@given(rows=st.integers(0, 10**12), count=st.integers(1, 100_000))
def test_shards_partition_the_rows_in_order(rows: int, count: int) -> None:
    # Checked at a few indices (the first, the last, and neighbours somewhere between).
    inner = min(count - 1, max(0, rows % count))
    for i in sorted({0, inner, count - 1}):
        start, stop = Shard(i, count).bounds(rows)
        assert 0 <= start <= stop <= rows
        if i + 1 < count:
            assert Shard(i + 1, count).bounds(rows)[0] == stop  # no gap, no overlap
    assert Shard(0, count).bounds(rows)[0] == 0
    assert Shard(count - 1, count).bounds(rows)[1] == rows
    sizes = {
        Shard(i, count).bounds(rows)[1] - Shard(i, count).bounds(rows)[0] for i in (0, count - 1)
    }
    assert max(sizes) - min(sizes) <= 1  # balanced to one row


def test_the_first_given_shard_count_wins_and_no_index_means_every_shard() -> None:
    assert shard_count(None, None, None) == 1
    assert shard_count(None, 4, 8) == 4
    assert shard_count(2, 4, 8) == 2
    assert [s.index for s in shards_to_run(3, None, None)] == [0, 1, 2]
    assert shards_to_run(3, None, "2") == [Shard(2, 3)]
    assert shards_to_run(3, 1, "2") == [Shard(1, 3)]  # the flag wins over the environment
    assert Shard(3, 16).name == "part-00003-of-00016"


GRID = SweepJob.model_validate(
    {
        "kind": "sweep",
        "model": "m",
        "output": "o",
        "parameters": {
            "a": {"unit": "m", "linspace": [0, 1, 7]},
            "b": {"unit": "s", "logspace": [1, 1000, 4]},
            "c": {"unit": "kg", "values": [3, 1, 2]},
            "d": {"unit": "K", "value": 300},
        },
    }
)
STUDY = MonteCarloJob.model_validate(
    {
        "kind": "montecarlo",
        "model": "m",
        "output": "o",
        "samples": 3 * BLOCK + 5,
        "seed": 7,
        "parameters": {
            "a": {"unit": "m", "normal": {"mean": 1, "std": 0.5}},
            "b": {"unit": "s", "uniform": {"low": -1, "high": 1}},
            "c": {"unit": "kg", "lognormal": {"median": 2, "sigma": 0.3}},
            "d": {"unit": "K", "value": 300},
        },
    }
)
WHOLE_GRID = design_for(GRID).columns(0, GRID.rows)
WHOLE_STUDY = design_for(STUDY).columns(0, STUDY.rows)


def test_logspace_spaces_values_geometrically_between_its_ends() -> None:
    assert isinstance(design_for(GRID), Grid)
    np.testing.assert_allclose(np.unique(WHOLE_GRID["b"]), [1, 10, 100, 1000])


@settings(max_examples=200)
@given(data=st.data())
def test_any_range_of_the_grid_is_the_slice_of_the_whole(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, GRID.rows))
    stop = data.draw(st.integers(start, GRID.rows))
    part = design_for(GRID).columns(start, stop)
    for name, whole in WHOLE_GRID.items():
        np.testing.assert_array_equal(part[name], whole[start:stop])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_range_of_a_study_is_the_slice_of_the_whole(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, STUDY.rows))
    stop = data.draw(st.integers(start, STUDY.rows))
    design = design_for(STUDY)
    assert isinstance(design, MonteCarlo)
    part = design.columns(start, stop)
    for name, whole in WHOLE_STUDY.items():
        np.testing.assert_array_equal(part[name], whole[start:stop])


def test_a_parameter_takes_exactly_one_source() -> None:
    assert Parameter.model_validate({"unit": "m", "values": [1, 2]}).source == "values"
    assert (
        Parameter.model_validate({"unit": "m", "normal": {"mean": 0, "std": 1}}).source == "normal"
    )
