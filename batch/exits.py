"""The batch CLI's exit codes, and the errors that lead to them.

A Kubernetes Job's ``podFailurePolicy`` matches these numbers (the chart's batch Job and
``deploy/examples/batch-job.yaml``), so they are part of the interface: a config error must
not be retried (every index would fail alike), bad rows in one shard fail that index, an
interruption is resumed by the replacement pod, and only a crash uses up a retry.

| code | meaning | what the Job does |
|---|---|---|
| 0 | done (or nothing left to do) | the index succeeds |
| 1 | crash (an unexpected error) | retried, up to ``backoffLimitPerIndex`` |
| 2 | config error: refused before any work, nothing written | ``FailJob`` |
| 3 | input data error in this shard's rows | ``FailIndex`` |
| 4 | ``merge`` refused: shards missing, incomplete or from another run | (not run by the Job) |
| 75 | stopped by SIGTERM/SIGINT at a row-group boundary; complete shards kept | ``Ignore`` |
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from enum import IntEnum
from types import FrameType
from typing import Any

__all__ = [
    "BatchError",
    "ConfigError",
    "ExitCode",
    "IncompleteError",
    "InputDataError",
    "Interruption",
    "StopSignal",
    "configure_logging",
    "exit_code",
]


class ExitCode(IntEnum):
    """Process exit codes (75 is sysexits' EX_TEMPFAIL: try again later)."""

    OK = 0
    CRASH = 1
    CONFIG = 2
    INPUT = 3
    INCOMPLETE = 4
    INTERRUPTED = 75


class BatchError(Exception):
    """A refusal with its exit code; the message says what, expected and received."""

    code = ExitCode.CRASH

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BatchError):
    """The config, the environment or the arguments cannot run: refused before any work."""

    code = ExitCode.CONFIG


class InputDataError(BatchError):
    """Rows of this shard's input cannot be scored (a non-finite value, a bad cell)."""

    code = ExitCode.INPUT


class IncompleteError(BatchError):
    """``merge`` found a shard missing, incomplete or written by another run."""

    code = ExitCode.INCOMPLETE


class Interruption(BatchError):  # noqa: N818 (a stop, not an error)
    """SIGTERM or SIGINT: stopped at a row-group boundary, the unfinished shard discarded."""

    code = ExitCode.INTERRUPTED


class StopSignal:
    """SIGTERM and SIGINT set a flag while the block runs; the work loop reads it at every
    boundary where it can stop cleanly (a row group, a training step) and exits 75. The
    previous handlers come back at the end of the block."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, logger: str = "batch", boundary: str = "row-group boundary") -> None:
        self.logger = logger
        self.boundary = boundary
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

    def is_set(self) -> bool:
        return self.signal is not None


def configure_logging(name: str) -> logging.Logger:
    """The job CLIs' logger: plain lines with a UTC time on stderr, what reads well in
    ``kubectl logs`` (stdout stays for machine-readable output: metrics, ``validate``)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def exit_code(command: Callable[[], int], logger: logging.Logger) -> int:
    """Run a CLI command: a refusal is logged in its own words and becomes its exit code; an
    unexpected error propagates (a traceback, exit 1: a crash the Job may retry)."""
    try:
        return command()
    except BatchError as exc:
        logger.error("%s", exc.message)
        return int(exc.code)
