"""Batch jobs over the one prediction core: predict, sweep, Monte Carlo and Buckingham Pi."""

import service  # noqa: F401 - dimtensor without matplotlib (service/__init__.py)
