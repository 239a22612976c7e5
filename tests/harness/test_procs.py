"""Process trees and their memory, read from /proc, on real processes: a parent with two
children, one of which has a child of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import pytest

from harness.ports import free_port
from harness.procs import (
    children,
    cpu_seconds,
    paused,
    process_state,
    pss_mib,
    rss_mib,
    tree,
    wait_exit,
)

# The parent starts `sleep` and a Python child that starts `sleep` in turn, prints
# "sleeper python grandchild", and holds until its stdin closes.
PARENT = """
import subprocess, sys
grand = (
    "import subprocess, sys; c = subprocess.Popen(['sleep', '600']); "
    "print(c.pid, flush=True); sys.stdin.read()"
)
sleeper = subprocess.Popen(["sleep", "600"])
python = subprocess.Popen(
    [sys.executable, "-c", grand], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
)
print(sleeper.pid, python.pid, python.stdout.readline().strip(), flush=True)
sys.stdin.read()
"""


@dataclass
class Family:
    parent: int
    sleeper: int
    python: int
    grandchild: int

    def all(self) -> set[int]:
        return {self.parent, self.sleeper, self.python, self.grandchild}


@pytest.fixture
def family() -> Iterator[Family]:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        sleeper, python, grandchild = map(int, proc.stdout.readline().split())
        found = Family(proc.pid, sleeper, python, grandchild)
        yield found
        for pid in sorted(found.all()):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_free_port_gives_a_port_that_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert s.getsockname()[1] == port


def test_the_tree_is_the_process_and_every_descendant(family: Family) -> None:
    found = tree(family.parent)
    assert found[0] == family.parent
    assert sorted(found) == sorted(family.all())
    assert children(family.parent) == {family.sleeper, family.python}
    assert children(family.python) == {family.grandchild}
    assert tree(family.sleeper) == [family.sleeper]


def test_the_memory_of_a_tree_is_more_than_any_one_member(family: Family) -> None:
    whole = tree(family.parent)
    for member in whole:
        assert 0 < rss_mib([member]) < rss_mib(whole)
    # Shared pages are split among the processes that map them: never more than resident.
    assert 0 < pss_mib(whole) <= rss_mib(whole)


def test_a_process_that_is_gone_counts_as_nothing() -> None:
    pid = gone_pid()
    assert tree(pid) == [pid]
    assert children(pid) == set()
    assert process_state(pid) == ""
    assert cpu_seconds(pid) == 0.0
    assert rss_mib([pid]) == 0.0
    assert pss_mib([pid]) == 0.0
    assert wait_exit(pid) is True


def test_paused_stops_the_processes_for_the_block_only(family: Family) -> None:
    assert process_state(family.sleeper) == "S"
    with paused([family.sleeper]):
        assert process_state(family.sleeper) in {"T", "t"}
    # SIGCONT takes a process out of the stopped state before kill() returns.
    assert process_state(family.sleeper) not in {"T", "t"}


def test_wait_exit_is_false_while_the_process_lives(family: Family) -> None:
    assert wait_exit(family.sleeper, timeout=0) is False
    os.kill(family.sleeper, signal.SIGTERM)
    assert wait_exit(family.sleeper) is True
