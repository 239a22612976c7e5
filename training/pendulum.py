"""The large-amplitude pendulum period: the exact formula, and the dataset the embedded
surrogate is trained on (``examples/training/pendulum.yaml``, ``training.default_models``).

Exact answer: ``T = 2π sqrt(L/g) / AGM(1, cos(θ0/2))`` (the complete elliptic integral of the
first kind through the arithmetic-geometric mean). Dimensional analysis says
``T = sqrt(L/g) · Φ(θ0)``, so the network only learns the dimensionless factor
``Φ(θ0)/2π = 1/AGM(1, cos(θ0/2))`` of the single group θ0² (even in θ0, as the physics is);
the ``pi_group_mlp`` architecture multiplies ``2π sqrt(L/g)`` back in analytically.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "AMPLITUDE_MAX",
    "G_RANGE",
    "LENGTH_RANGE",
    "TOLERANCE",
    "exact_period",
    "period_factor",
    "write_dataset",
]

FloatArray = npt.NDArray[np.float64]

AMPLITUDE_MAX = 2.8  # rad (about 160°); the factor diverges at π
TOLERANCE = 1e-3  # documented max relative error of the period over the domain
LENGTH_RANGE = (1e-3, 1e3)  # m: the scale is analytic, so any positive value works in float32
G_RANGE = (0.1, 100.0)  # m/s^2


def _agm(a: FloatArray, b: FloatArray) -> FloatArray:
    for _ in range(64):
        a, b = (a + b) / 2.0, np.sqrt(a * b)
        if np.all(np.abs(a - b) <= 1e-15 * np.abs(a)):
            break
    return a


def period_factor(amplitude: npt.ArrayLike) -> FloatArray:
    """``T / (2π sqrt(L/g))`` for amplitude θ0 in rad (1 at small amplitude)."""
    theta = np.abs(np.asarray(amplitude, dtype=np.float64))
    return 1.0 / _agm(np.ones_like(theta), np.cos(theta / 2.0))


def exact_period(length: npt.ArrayLike, amplitude: npt.ArrayLike, g: npt.ArrayLike) -> FloatArray:
    """The exact period [s] for length [m], amplitude [rad] and g [m/s^2], in float64."""
    scale = 2.0 * math.pi * np.sqrt(np.asarray(length, np.float64) / np.asarray(g, np.float64))
    return np.asarray(scale * period_factor(amplitude), dtype=np.float64)


DATASET_ROWS = 4097


def write_dataset(path: Path, rows: int = DATASET_ROWS, seed: int = 0) -> Path:
    """The exact period on Chebyshev-spaced amplitudes in [0, AMPLITUDE_MAX] (crowding the
    ends, where the factor bends most), with lengths and g drawn log-uniformly from their
    ranges: a Parquet file whose columns carry their units, as dimtensor-batch writes them,
    for ``dimtensor-train`` (``examples/training/pendulum.yaml``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    k = np.arange(rows, dtype=np.float64)
    amplitude = AMPLITUDE_MAX * (1.0 - np.cos(np.pi * k / (rows - 1))) / 2.0
    low, high = (float(v) for v in np.log(LENGTH_RANGE))
    length = np.exp(rng.uniform(low, high, rows))
    g_low, g_high = (float(v) for v in np.log(G_RANGE))
    g = np.exp(rng.uniform(g_low, g_high, rows))
    period = exact_period(length, amplitude, g)
    fields = [
        pa.field(name, pa.float64(), metadata={b"unit": unit.encode()})
        for name, unit in (("length", "m"), ("amplitude", "rad"), ("g", "m/s^2"), ("period", "s"))
    ]
    table = pa.Table.from_arrays(
        [pa.array(length), pa.array(amplitude), pa.array(g), pa.array(period)],
        schema=pa.schema(fields),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
