"""The gunicorn master of a real server holds no torch and no numpy (so no dimtensor, which
needs both), and no pydantic: it never runs a model (``preload_app = False``) nor validates a
request, and a master that imported them would make every pod pay their start and memory for
nothing. Each worker has them, which shows the check sees a library when it is there. Read
from the processes' memory maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import run_server

pytestmark = pytest.mark.slow

# A shared object of each heavy package: parts of its path in /proc/PID/maps (numpy's moved
# from numpy/core to numpy/_core in numpy 2).
LIBTORCH = ("/torch/lib/", "libtorch_cpu.so")
NUMPY = ("/numpy/", "_multiarray_umath.cpython")
PYDANTIC = ("/pydantic_core/", "_pydantic_core.cpython")


def mapped(pid: int) -> set[str]:
    """The files mapped into `pid`'s memory."""
    lines = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8").splitlines()
    return {fields[5] for fields in (line.split(maxsplit=5) for line in lines) if len(fields) > 5}


def holds(pid: int, library: tuple[str, ...]) -> bool:
    return any(all(part in path for part in library) for path in mapped(pid))


def test_the_master_holds_no_torch_numpy_or_pydantic_and_the_workers_do(tmp_path: Path) -> None:
    with run_server(tmp_path, workers=2) as server:
        workers = server.workers()
        assert len(workers) == 2
        heavy = (LIBTORCH, NUMPY, PYDANTIC)
        assert [lib for lib in heavy if holds(server.pid, lib)] == []
        for worker in workers:
            assert [lib for lib in heavy if not holds(worker, lib)] == []
