"""Process lifecycle flags shared by the worker and the health endpoints."""

from __future__ import annotations

import threading

__all__ = ["begin_draining", "is_draining", "reset_draining"]

_draining = threading.Event()


def begin_draining() -> None:
    """Called on SIGTERM: readiness turns false from now on."""
    _draining.set()


def is_draining() -> bool:
    """True once shutdown has begun."""
    return _draining.is_set()


def reset_draining() -> None:
    """For tests that simulate a drain in process."""
    _draining.clear()
