"""The CPU a process tree uses over a window, sampled from /proc in a thread: how busy a
server is under load, and whether a load generator is saturated."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.procs import cpu_seconds, tree

__all__ = ["CpuWatch"]


@dataclass
class CpuWatch:
    """Samples the CPU of a process tree every `interval` seconds in a thread.

    ``busiest()`` is the highest average utilisation (percent of one core) of any single
    process over the watched window, ``total()`` the whole tree's (percent of one core):
    the generator is saturated when one of its processes nears 100 %."""

    root_pid: int
    interval: float = 1.0
    skip: float = 0.0  # seconds ignored at the start (imports, ramp-up)
    samples: list[tuple[float, dict[int, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> CpuWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - started < self.skip:
                continue
            pids = tree(self.root_pid)
            self.samples.append((time.monotonic(), {p: cpu_seconds(p) for p in pids}))

    def per_process(self) -> dict[int, float]:
        """Average percent of one core per process between the first and last sample."""
        if len(self.samples) < 2:
            return {}
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        wall = max(1e-9, t1 - t0)
        return {p: 100 * (last[p] - first[p]) / wall for p in last if p in first}

    def busiest(self) -> float:
        return max(self.per_process().values(), default=0.0)

    def total(self) -> float:
        return sum(self.per_process().values())
