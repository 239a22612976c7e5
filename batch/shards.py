"""Which rows a shard owns, and which shards this process runs.

The split is arithmetic on the row count: shard ``i`` of ``n`` owns rows
``[rows * i // n, rows * (i + 1) // n)``. Nothing else enters it, so any shard rerun alone
(a retried index of an Indexed Job, two pods on one index) owns exactly the same rows.

The index comes from ``--shard`` or Kubernetes' ``JOB_COMPLETION_INDEX``; the count from
``--shards``, ``BATCH_SHARDS`` or the config's ``shards:`` (first given wins), else 1.
Without an index, the process runs every shard in turn (a laptop, a one-pod Job).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobkit.errors import ConfigError

__all__ = ["Shard", "shard_count", "shards_to_run"]


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count``."""

    index: int
    count: int

    @property
    def name(self) -> str:
        """The stem of its files: ``part-00003-of-00016``."""
        return f"part-{self.index:05d}-of-{self.count:05d}"

    def bounds(self, rows: int) -> tuple[int, int]:
        """The ``[start, stop)`` rows it owns out of `rows`."""
        return rows * self.index // self.count, rows * (self.index + 1) // self.count

    def __str__(self) -> str:
        return f"shard {self.index + 1}/{self.count}"


def shard_count(flag: int | None, env: int | None, config: int | None) -> int:
    """The first of ``--shards``, ``BATCH_SHARDS`` and the config's ``shards:`` given."""
    for value in (flag, env, config):
        if value is not None:
            return value
    return 1


def shards_to_run(count: int, flag: int | None, completion_index: str | None) -> list[Shard]:
    """The shards this process runs: the one named by ``--shard`` or
    ``JOB_COMPLETION_INDEX``, else all of them in order."""
    if flag is not None:
        index, source = flag, "--shard"
    elif completion_index is not None:
        index, source = _index(completion_index), "JOB_COMPLETION_INDEX"
    else:
        return [Shard(i, count) for i in range(count)]
    if not 0 <= index < count:
        raise ConfigError(
            f"{source} is {index}; expected 0 to {count - 1} for {count} shards "
            "(set --shards or BATCH_SHARDS to the Job's completions)"
        )
    return [Shard(index, count)]


def _index(text: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(
            f"JOB_COMPLETION_INDEX is {text!r}; expected a shard number 0, 1, 2, ... "
            "(Kubernetes sets it only for a Job with completionMode: Indexed)"
        )
    return int(text)
