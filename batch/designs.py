"""Rows made from parameters: the full grid of a sweep, the random draws of a Monte Carlo study.

Both give any row range ``[start, stop)`` on its own, so a shard computes its rows without
the others and a shard rerun alone gives the same rows:

- the grid maps a row number to one index per parameter (``numpy.unravel_index``, the first
  parameter varying slowest, as ``itertools.product`` does);
- the Monte Carlo draws come in blocks of ``BLOCK`` rows, block ``b`` from its own generator
  seeded by ``SeedSequence(seed, spawn_key=(b,))``; a row's values depend on the seed and
  the row number only, never on how the rows are split. ``BLOCK`` is part of that promise:
  changing it changes the rows of every seed.

Values stay in the units the config gave; the prediction core converts them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from batch.config import MonteCarloJob, Parameter, SweepJob
from service.tensors import FloatArray

__all__ = ["BLOCK", "Design", "Grid", "MonteCarlo", "design_for"]

BLOCK = 65_536


class Design:
    """Named float64 columns for any row range of a fixed number of rows."""

    rows: int
    names: tuple[str, ...]

    def columns(self, start: int, stop: int) -> dict[str, FloatArray]:
        """The values of rows ``start`` to ``stop - 1``, one array per parameter."""
        raise NotImplementedError


class Grid(Design):
    """The cross product of each parameter's values."""

    def __init__(self, parameters: Mapping[str, Parameter]) -> None:
        self.names = tuple(parameters)
        self.axes = [_axis(p) for p in parameters.values()]
        self.shape = tuple(len(a) for a in self.axes)
        self.rows = int(np.prod(self.shape, dtype=object))

    def columns(self, start: int, stop: int) -> dict[str, FloatArray]:
        index = np.unravel_index(np.arange(start, stop, dtype=np.int64), self.shape)
        return {name: axis[i] for name, axis, i in zip(self.names, self.axes, index, strict=True)}


def _axis(param: Parameter) -> FloatArray:
    if param.value is not None:
        return np.array([param.value])
    if param.values is not None:
        return np.array(param.values, dtype=np.float64)
    if param.linspace is not None:
        start, stop, count = param.linspace
        return np.linspace(start, stop, count)
    if param.logspace is not None:
        start, stop, count = param.logspace
        return np.geomspace(start, stop, count)
    raise ValueError(f"a sweep parameter takes value(s), linspace or logspace: {param}")


class MonteCarlo(Design):
    """``samples`` rows of independent draws, reproducible by seed whatever the split."""

    def __init__(self, parameters: Mapping[str, Parameter], samples: int, seed: int) -> None:
        self.names = tuple(parameters)
        self.parameters = dict(parameters)
        self.rows = samples
        self.seed = seed

    def columns(self, start: int, stop: int) -> dict[str, FloatArray]:
        if stop <= start:
            return {name: np.empty(0) for name in self.names}
        first, last = start // BLOCK, (stop - 1) // BLOCK
        blocks = [self._block(b) for b in range(first, last + 1)]
        offset = first * BLOCK
        return {
            name: np.concatenate([blk[name] for blk in blocks])[start - offset : stop - offset]
            for name in self.names
        }

    def _block(self, block: int) -> dict[str, FloatArray]:
        size = min(BLOCK, self.rows - block * BLOCK)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(block,)))
        return {name: _draw(rng, p, size) for name, p in self.parameters.items()}


def _draw(rng: np.random.Generator, param: Parameter, size: int) -> FloatArray:
    if param.value is not None:
        return np.full(size, param.value)
    if param.normal is not None:
        return rng.normal(param.normal.mean, param.normal.std, size)
    if param.uniform is not None:
        return rng.uniform(param.uniform.low, param.uniform.high, size)
    if param.lognormal is not None:
        shape = rng.standard_normal(size)
        scaled: FloatArray = param.lognormal.median * np.exp(param.lognormal.sigma * shape)
        return scaled
    raise ValueError(f"a montecarlo parameter takes value, normal, uniform or lognormal: {param}")


def design_for(config: SweepJob | MonteCarloJob) -> Design:
    """The rows a sweep or a study describes."""
    if isinstance(config, SweepJob):
        return Grid(config.parameters)
    return MonteCarlo(config.parameters, config.samples, config.seed)
