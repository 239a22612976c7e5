"""The jobs' log line, one format for the CLIs and the image's entrypoint: a UTC time to the
second, the level, the message, on stderr and nowhere else."""

from __future__ import annotations

import re

import pytest

from container import entrypoint
from jobkit.logs import configure_logging

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|WARNING|ERROR) (.*)$")


def test_a_line_of_the_jobs_format(capsys: pytest.CaptureFixture[str]) -> None:
    log = configure_logging("tests.jobkit.logs")
    configure_logging("tests.jobkit.logs")  # configuring again adds no second handler
    log.warning("SIGTERM received: stopping at the next %s", "row-group boundary")
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    match = LINE.match(line)
    assert match is not None, line
    said = "SIGTERM received: stopping at the next row-group boundary"
    assert match.groups() == ("WARNING", said)


def test_the_entrypoint_writes_the_same_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert entrypoint.main(["predict"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    match = LINE.match(first)
    assert match is not None, first
    assert match.group(2).startswith("dimtensor: unknown command 'predict'")
