"""gunicorn's side of prometheus_client's multiprocess mode, light enough for the master.

Under gunicorn every worker is a process, so values go through prometheus_client's
multiprocess mode: the master gives the workers an empty ``PROMETHEUS_MULTIPROC_DIR`` before
they fork (``prepare_multiprocess_dir``, from ``on_starting``), each worker's app keeps its
values there (``service.metrics._prometheus.use_storage``), dead workers are marked
(``mark_process_dead``, from ``child_exit``), and ``/metrics`` aggregates every worker's files
(``service.metrics.exposition``). The master never runs a model, so this module imports
neither the app nor the tallies (tests/test_imports.py), nor prometheus_client until a worker
has died.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["mark_process_dead", "multiprocess_dir", "prepare_multiprocess_dir"]


def multiprocess_dir() -> str | None:
    """The shared directory when running under several processes, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def prepare_multiprocess_dir(path: Path) -> Path:
    """In gunicorn's master, before workers fork: `path` emptied (stale files of an earlier
    run would add to the counts) and named in the environment the workers inherit."""
    if path.exists():
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn when a worker exits: drops its live gauges. prometheus_client is
    imported here, not at the top: the master loads it only once a worker has died."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
