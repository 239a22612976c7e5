"""The exit table: each number means one thing across the project's commands."""

from __future__ import annotations

import logging

import pytest

from jobkit.errors import (
    ConfigError,
    IncompleteError,
    InputDataError,
    Interruption,
    JobError,
    exit_code,
)
from jobkit.exits import COMMANDS, TABLE, ExitCode, rows_for


def test_every_code_has_one_row_and_every_row_a_command() -> None:
    assert sorted(row.code for row in TABLE) == sorted(ExitCode)
    for row in TABLE:
        assert row.commands, row.code
        assert set(row.commands) <= set(COMMANDS), row.code
        assert set(row.detail) <= set(row.commands), row.code


# What a Job's podFailurePolicy does with a job's code: the interface the chart's Jobs and the
# raw examples are written from (no action: the failure counts against the backoff limit).
CONFIG, INPUT, STOPPED = ExitCode.CONFIG, ExitCode.INPUT, ExitCode.INTERRUPTED
JOB_ACTIONS = [
    ("batch", {CONFIG: "FailJob", INPUT: "FailIndex", STOPPED: "Ignore"}),
    ("train", {CONFIG: "FailJob", STOPPED: "Ignore"}),
]


@pytest.mark.parametrize(("command", "actions"), JOB_ACTIONS)
def test_the_jobs_actions(command: str, actions: dict[ExitCode, str]) -> None:
    ruled = {row.code: row.action for row in rows_for(command) if row.action}  # type: ignore[arg-type]
    assert ruled == actions


def test_the_verdicts_and_the_client_use_numbers_no_job_uses() -> None:
    job_codes = {row.code for c in ("batch", "train") for row in rows_for(c)}
    for command in ("slo", "locust", "hpa_check", "client"):
        own = {row.code for row in rows_for(command)} - {ExitCode.OK, ExitCode.CRASH}
        shared = own & job_codes
        assert shared <= {ExitCode.CONFIG}, (command, shared)


def test_one_is_always_a_crash() -> None:
    """A traceback exits 1 in any Python program, so 1 can mean nothing else."""
    (row,) = [r for r in TABLE if r.code == 1]
    assert row.code is ExitCode.CRASH
    assert {row.meaning_for(c) for c in row.commands} == {row.meaning}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError, ExitCode.CONFIG),
        (InputDataError, ExitCode.INPUT),
        (IncompleteError, ExitCode.INCOMPLETE),
        (Interruption, ExitCode.INTERRUPTED),
        (JobError, ExitCode.CRASH),
    ],
)
def test_a_refusal_is_logged_in_its_own_words_and_becomes_its_code(
    error: type[JobError], code: ExitCode, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> int:
        raise error("input 'speed': expected a number, received 'fast'")

    logger = logging.getLogger("tests.jobkit")
    assert exit_code(refuse, logger) == code
    assert caplog.messages == ["input 'speed': expected a number, received 'fast'"]


def test_an_unexpected_error_propagates() -> None:
    def crash() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        exit_code(crash, logging.getLogger("tests.jobkit"))
