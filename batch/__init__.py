"""Batch jobs over the one prediction core: predict, sweep, Monte Carlo and Buckingham Pi."""
