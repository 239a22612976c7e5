"""The job errors: a refusal carries its exit code, and ``exit_code`` turns it into one.

A job raises these where it finds the problem; the CLI's ``main`` runs its command through
:func:`exit_code`, which logs the refusal in its own words (what, expected, received) and
returns the code a Job's ``podFailurePolicy`` matches (:mod:`jobkit.exits`). Anything else
propagates: a traceback and exit 1, a crash the Job may retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from jobkit.exits import ExitCode

__all__ = [
    "ConfigError",
    "IncompleteError",
    "InputDataError",
    "Interruption",
    "JobError",
    "exit_code",
]


class JobError(Exception):
    """A refusal with its exit code; the message says what, expected and received."""

    code = ExitCode.CRASH

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(JobError):
    """The config, the environment or the arguments cannot run: refused before any work."""

    code = ExitCode.CONFIG


class InputDataError(JobError):
    """Rows of this shard's input cannot be scored (a non-finite value, a bad cell)."""

    code = ExitCode.INPUT


class IncompleteError(JobError):
    """``merge`` found a shard missing, incomplete or written by another run."""

    code = ExitCode.INCOMPLETE


class Interruption(JobError):  # noqa: N818 (a stop, not an error)
    """SIGTERM or SIGINT: stopped at a clean boundary (a row group, a training step)."""

    code = ExitCode.INTERRUPTED


def exit_code(command: Callable[[], int], logger: logging.Logger) -> int:
    """Run a CLI command: a refusal is logged in its own words and becomes its exit code; an
    unexpected error propagates (a traceback, exit 1: a crash the Job may retry)."""
    try:
        return command()
    except JobError as exc:
        logger.error("%s", exc.message)
        return int(exc.code)
