"""Progress of a shard: lines that read well in ``kubectl logs``, a bar on a terminal.

In a pod stderr is a pipe: one line every ``BATCH_PROGRESS_SECONDS`` (and one at the end)
with rows done, the rate and the time left. On a terminal, tqdm draws a bar instead.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO

from tqdm import tqdm

__all__ = ["Progress", "eta_text"]

log = logging.getLogger("batch")


def eta_text(seconds: float) -> str:
    """``1:02:03`` / ``2:03``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts the rows of one shard and reports them."""

    def __init__(self, label: str, total: int, every: float, stream: IO[str] | None = None) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self._last = self.started
        stream = stream if stream is not None else sys.stderr
        self._bar: tqdm | None = None
        if stream.isatty():
            self._bar = tqdm(total=total, desc=label, unit="rows", unit_scale=True, file=stream)

    def advance(self, rows: int) -> None:
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """``shard 2/4: 131,072 of 1,000,000 rows (13.1 %), 52,110 rows/s, ETA 0:17``."""
        elapsed = max(1e-9, (now or time.monotonic()) - self.started)
        rate = self.done / elapsed
        share = 100.0 * self.done / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = eta_text(left) if left != float("inf") else "unknown"
        return (
            f"{self.label}: {self.done:,} of {self.total:,} rows ({share:.1f} %), "
            f"{rate:,.0f} rows/s, ETA {eta}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
