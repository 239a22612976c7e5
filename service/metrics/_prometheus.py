"""The only code that relies on prometheus_client's internals (pinned exactly in
requirements/constraints.txt; this docstring says which internals, why, and which test
fails first when an upgrade changes them).

1. Applying tallies (``add_to_summary``, ``add_to_histogram``, ``histogram_bounds``).
   prometheus_client has no public "observe n values summing s" call, and the service
   tallies observations in process and applies them in batches (``service.metrics.tally``
   says why). So these write a label child's value objects directly: ``_count`` and
   ``_sum`` of a Summary (``Summary.observe(a)`` is ``_count.inc(1); _sum.inc(a)``), and
   ``_sum``, ``_buckets`` and ``_upper_bounds`` of a Histogram, whose bucket counts are
   stored non-cumulatively (``observe(a)`` increments only the first bucket whose upper
   bound is ``>= a``; the exposition accumulates them). If these change,
   ``tests/test_metrics_tally.py::test_flushed_tallies_expose_as_direct_calls`` (hypothesis:
   tallied-then-flushed exposition equals direct ``inc()``/``observe()``) fails first.
2. Choosing the value storage (``use_storage``). prometheus_client picks in-memory or
   multiprocess (mmap files) values once, when ``prometheus_client.values`` is first
   imported, from ``PROMETHEUS_MULTIPROC_DIR``, and the multiprocess values read the
   directory from that variable again whenever they open a file. An operator's empty
   ``PROMETHEUS_MULTIPROC_DIR=`` would make it write ``*.db`` files into the working
   directory (and crash at the first metric). ``use_storage`` sets the module's
   ``ValueClass`` and the variable together, from the typed setting, before the app
   registers its series. If this changes, ``tests/test_metrics_env.py`` fails first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import Histogram, Summary, values

__all__ = ["add_to_histogram", "add_to_summary", "histogram_bounds", "use_storage"]


def add_to_summary(child: Summary, count: float, total: float) -> None:
    """As if `child.observe` had been called `count` times with values summing `total`."""
    child._count.inc(count)
    child._sum.inc(total)


def histogram_bounds(metric: Histogram) -> list[float]:
    """The upper bounds of `metric`'s buckets, ending with +Inf."""
    return list(metric._upper_bounds)


def add_to_histogram(child: Histogram, total: float, per_bucket: Sequence[float]) -> None:
    """As if `child.observe` had been called for values summing `total`, of which
    ``per_bucket[i]`` fell in bucket ``i`` alone (the first bound ``>=`` the value)."""
    child._sum.inc(total)
    buckets = child._buckets
    for i, count in enumerate(per_bucket):
        if count:
            buckets[i].inc(count)


def use_storage(directory: Path | None) -> None:
    """Keep metric values in `directory` (multiprocess mode: created if missing), or in
    memory when None. Call before any series is registered."""
    if directory is None:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        os.environ.pop("prometheus_multiproc_dir", None)
        values.ValueClass = values.MutexValue
        return
    directory.mkdir(parents=True, exist_ok=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(directory):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
