"""Exit codes of every command in the project, in one table: each number means one thing.

A Kubernetes Job's ``podFailurePolicy`` matches these numbers (the chart's batch and training
Jobs, ``deploy/examples/*job*.yaml``), so they are part of the interface: a config error must
not be retried (every attempt would fail alike), bad rows in one shard fail that index, an
interruption is resumed by the replacement pod, and only a crash uses up a retry. The verdict
tools (the SLO gate, the HPA check) and the client CLI take numbers no job uses, so a 3 or a
4 reads the same wherever it comes from.

The chart's policy template, the raw examples' policies and the docs' tables are written from
:data:`TABLE` (``python -m jobkit.exits write``); a test fails when one of them disagrees.
This module imports only the standard library: the image's entrypoint reads it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

__all__ = ["COMMANDS", "TABLE", "Action", "Command", "ExitCode", "Row", "rows_for"]

Command = Literal["batch", "train", "entrypoint", "slo", "locust", "hpa_check", "client"]
#: Every command that exits with a code of the table; a Job runs the first two.
COMMANDS: tuple[Command, ...] = (
    "batch",
    "train",
    "entrypoint",
    "slo",
    "locust",
    "hpa_check",
    "client",
)
#: The commands whose crashes and refusals are their own (Locust's are Locust's: the locustfile
#: sets only the verdict).
_OWN_CODES: tuple[Command, ...] = tuple(c for c in COMMANDS if c != "locust")
#: What a Job's ``podFailurePolicy`` does with a code (None: no rule, the failure is counted
#: against the backoff limit, or the Job never sees the code).
Action = Literal["FailJob", "FailIndex", "Ignore"]


class ExitCode(IntEnum):
    """Process exit codes (75 is sysexits' EX_TEMPFAIL: try again later)."""

    OK = 0
    CRASH = 1
    CONFIG = 2
    INPUT = 3
    INCOMPLETE = 4
    OBJECTIVE_MISSED = 5
    GENERATOR_SATURATED = 6
    GENERATOR_FAILED = 7
    REFUSED = 8
    NO_ANSWER = 9
    INTERRUPTED = 75


@dataclass(frozen=True)
class Row:
    """One code: what it means, what a Job does with it (``action``, the ``podFailurePolicy``
    rule, and ``job``, why or what happens without a rule), and which commands exit with it.

    ``detail`` words the meaning for one command where that command says more (where a
    stop happens, what was refused)."""

    code: ExitCode
    name: str
    meaning: str
    job: str
    commands: tuple[Command, ...]
    action: Action | None = None
    detail: dict[Command, str] = field(default_factory=dict)

    def meaning_for(self, command: Command) -> str:
        return self.detail.get(command, self.meaning)


TABLE: tuple[Row, ...] = (
    Row(
        ExitCode.OK,
        "done",
        "done (or nothing left to do); a verdict tool: every objective met",
        "the pod succeeds",
        COMMANDS,
        detail={
            "batch": "done (or nothing left to do)",
            "train": "done (trained, exported)",
            "entrypoint": "`--help` printed",
            "slo": "every objective met",
            "locust": "every objective met",
            "hpa_check": "every criterion holds",
            "client": "the server answered",
        },
    ),
    Row(
        ExitCode.CRASH,
        "crash",
        "crash: an unexpected error, with its traceback",
        "counted: retried up to the Job's backoff limit",
        _OWN_CODES,
    ),
    Row(
        ExitCode.CONFIG,
        "config error",
        "config error: the config, the environment or the arguments cannot run; refused "
        "before any work, nothing written",
        "every attempt would fail alike",
        _OWN_CODES,
        "FailJob",
        detail={
            "train": "config error: refused before the first step, nothing written",
            "entrypoint": "unknown command, or the device the settings require is missing",
            "slo": "bad arguments or SLO file",
            "hpa_check": "bad arguments, an HPA without a CPU target, or a recording or a "
            "cluster it cannot read",
            "client": "bad arguments",
        },
    ),
    Row(
        ExitCode.INPUT,
        "bad input rows",
        "input data error in this shard's rows (a non-finite value, a bad cell)",
        "this shard fails, the others go on",
        ("batch",),
        "FailIndex",
    ),
    Row(
        ExitCode.INCOMPLETE,
        "shards incomplete",
        "`merge` refused: shards missing, incomplete or from another run",
        "(merge is not run by the Job)",
        ("batch",),
    ),
    Row(
        ExitCode.OBJECTIVE_MISSED,
        "objective missed",
        "an objective was missed: the measurement is sound, the system under test is not",
        "(a load test's Job is not retried: its exit code is the verdict)",
        ("slo", "locust", "hpa_check"),
        detail={"hpa_check": "a criterion of the HPA check does not hold"},
    ),
    Row(
        ExitCode.GENERATOR_SATURATED,
        "load generator saturated",
        "the load generator's CPU was saturated: the numbers are not the server's",
        "(a load test's Job is not retried: its exit code is the verdict)",
        ("slo", "locust"),
    ),
    Row(
        ExitCode.GENERATOR_FAILED,
        "load generator failed",
        "the load generator gave no measurement (Locust failed, no load was measured)",
        "(a load test's Job is not retried: its exit code is the verdict)",
        ("slo", "hpa_check"),
    ),
    Row(
        ExitCode.REFUSED,
        "refused by the server",
        "the server refused the request (a problem report)",
        "(not run by a Job)",
        ("client",),
    ),
    Row(
        ExitCode.NO_ANSWER,
        "no answer",
        "the server could not be reached, or gave no usable answer",
        "(not run by a Job)",
        ("client",),
    ),
    Row(
        ExitCode.INTERRUPTED,
        "stopped by a signal",
        "stopped by SIGTERM or SIGINT at a clean boundary; the replacement resumes",
        "not counted, the replacement pod resumes",
        ("batch", "train"),
        "Ignore",
        detail={
            "batch": "stopped by SIGTERM or SIGINT at a row-group boundary; complete shards kept",
            "train": "stopped by SIGTERM or SIGINT after saving a checkpoint",
        },
    ),
)


def rows_for(command: Command) -> list[Row]:
    """The rows of one command, by code."""
    return [row for row in TABLE if command in row.commands]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobkit.exits``: see :mod:`jobkit.exit_files` (imported only here)."""
    from jobkit.exit_files import main as files_main

    return files_main(argv)


if __name__ == "__main__":
    sys.exit(main())
