"""What every job shares: exit codes and their one table, job errors, the stop signal, the log
format, config reading, atomic file writes and Parquet column metadata.

Light on purpose: it imports neither ``service`` nor torch nor dimtensor, so the image's
entrypoint can use it before it hands over to a workload. ``batch`` and ``training`` build on
it and never on each other.
"""
