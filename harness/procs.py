"""Processes as Linux's /proc shows them: a process tree, a process's state and CPU seconds,
the memory of a set of processes, and two barriers on them (pause, exit).

A server is a tree (gunicorn's master and its workers, Locust's master and its processes), so
everything that measures takes a set of pids, and ``tree`` gives the set. A process that is
gone counts as nothing: a worker may exit between the walk and the read.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = [
    "WAIT_SECONDS",
    "children",
    "cpu_seconds",
    "paused",
    "process_state",
    "pss_mib",
    "rss_mib",
    "tree",
    "wait_exit",
]

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
WAIT_SECONDS = 120  # a bound for a state change that must come, never a measure of speed


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses):
    [0] state, [1] parent pid, [11] user ticks, [12] system ticks."""
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _parents() -> dict[int, list[int]]:
    """Every process's children, by parent pid, in one pass over /proc."""
    out: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (gunicorn's workers under its master)."""
    return set(_parents().get(pid, []))


def tree(pid: int) -> list[int]:
    """`pid` first, then all its descendants (children, their children, ...)."""
    parents = _parents()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += parents.get(current, [])
    return out


def process_state(pid: int) -> str:
    """The one-letter state of a process (R, S, T for stopped, Z...), '' once it is gone."""
    try:
        return _stat(pid)[0]
    except (OSError, IndexError):
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = _stat(pid)
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _kib(path: Path, key: str) -> int:
    """The kB figure on the line starting with `key` in a /proc file; 0 if gone or absent."""
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def rss_mib(pids: Iterable[int]) -> float:
    """Resident memory of the processes, summed, in MiB. Pages shared between them (a
    preloaded app in forked workers) count once per process: see ``pss_mib``."""
    return sum(_kib(PROC / str(pid) / "status", "VmRSS:") for pid in pids) / 1024


def pss_mib(pids: Iterable[int]) -> float:
    """Proportional memory of the processes, summed, in MiB: each shared page is split among
    the processes that map it, so the sum over a whole tree is what the tree costs the
    machine. Read from /proc/PID/smaps_rollup (Linux 4.14+, readable for one's own
    processes)."""
    return sum(_kib(PROC / str(pid) / "smaps_rollup", "Pss:") for pid in pids) / 1024


@contextmanager
def paused(pids: Iterable[int], timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """SIGSTOP `pids` until the block ends, then SIGCONT them.

    A stopped worker accepts nothing and answers nothing, so every new connection goes to
    the workers left running: the way to choose which worker serves a request. Waits until
    the kernel reports each process stopped (state T) before the block runs."""
    pids = sorted(pids)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            deadline = time.monotonic() + timeout
            while process_state(pid) not in {"T", "t", ""}:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"process {pid} never stopped")
                time.sleep(0.001)  # polls a kernel state change that is already under way
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def wait_exit(pid: int, timeout: float = WAIT_SECONDS) -> bool:
    """Block until process `pid` (not necessarily our child) has exited; False on timeout.

    A pidfd becomes readable when the process exits: an event, not a poll."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)
