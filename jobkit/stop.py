"""SIGTERM and SIGINT as a flag a work loop reads at its clean boundaries."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StopSignal"]


class StopSignal:
    """SIGTERM and SIGINT set a flag while the block runs; the work loop reads it at every
    boundary where it can stop cleanly (a row group, a training step) and exits 75. The
    previous handlers come back at the end of the block.

    Args:
        logger: the logger that says which signal came and where the job will stop.
        boundary: where that is, in the log line's words ("row-group boundary").
        forward: also called with each signal's number (a launcher passes it on to its
            child process).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(
        self,
        logger: str,
        boundary: str,
        forward: Callable[[int], None] | None = None,
    ) -> None:
        self.logger = logger
        self.boundary = boundary
        self.forward = forward
        self.signal: str | None = None
        self._previous: list[Any] = []

    def __enter__(self) -> StopSignal:
        self._previous = [signal.signal(sig, self._handle) for sig in self.SIGNALS]
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in zip(self.SIGNALS, self._previous, strict=True):
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name
        logging.getLogger(self.logger).warning(
            "%s received: stopping at the next %s", self.signal, self.boundary
        )
        if self.forward is not None:
            self.forward(signum)

    def is_set(self) -> bool:
        return self.signal is not None
