"""The embedded pendulum's dataset is the exact formula, its columns carrying their units.
That the dataset and the shipped weights are reproduced byte for byte by their generator
(within the documented tolerance) is the ``default-models`` row of ``tests/test_generated.py``."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from training.default_models import DATA
from training.pendulum import exact_period


def test_the_dataset_is_the_exact_formula_with_units() -> None:
    table = pq.read_table(DATA)
    units = {f.name: f.metadata[b"unit"].decode() for f in table.schema}
    assert units == {"length": "m", "amplitude": "rad", "g": "m/s^2", "period": "s"}
    columns = [table[n].to_numpy() for n in ("length", "amplitude", "g")]
    np.testing.assert_array_equal(table["period"].to_numpy(), exact_period(*columns))
