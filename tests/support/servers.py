"""Real server processes for the tests: ``python -m service`` (gunicorn + uvicorn workers) on
loopback, started through harness/ as ``make serve`` starts it.

Every server gets its own directory under the test's tmp path (``server-PORT/``: HOME, TMPDIR,
metrics folder) and its output followed into ``server-PORT.log`` and memory, so that a test
waits for a line as an event (``ServerProcess.wait_for_log``) instead of sleeping.
``harness.procs.paused`` (SIGSTOP) and ``harness.procs.wait_exit`` (a pidfd) are the other
barriers on worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.ports import free_port
from harness.procs import WAIT_SECONDS
from harness.server import NotReadyError, Server, server_env, start

__all__ = ["LOG_WAIT_SECONDS", "ServerProcess", "run_server"]

LOG_WAIT_SECONDS = WAIT_SECONDS  # a bound for a line that must come, never a measure of speed

ServerProcess = Server
"""A running server, as the tests name it: harness's ``Server`` (url, port, workers(), the
log, the environment it was started with)."""


@contextmanager
def run_server(
    tmp_path: Path, workers: int = 2, *, port: int | None = None, **env: str
) -> Iterator[Server]:
    """Start the server as `make serve` does and wait until /readyz answers 200 with all
    `workers` running; SIGTERM it at the end.

    `port` defaults to a free one (a test that starts a client first picks it itself).
    Extra keyword arguments are environment variables; they win over the defaults (a test
    may name its own PROMETHEUS_MULTIPROC_DIR or MODEL_REPOSITORY, say)."""
    port = port or free_port()
    root = tmp_path / f"server-{port}"
    full_env = server_env(root, port, workers=workers, env=env)
    server = start(root, full_env, log=tmp_path / f"server-{port}.log", follow=True)
    try:
        try:
            server.wait_ready(workers=workers, interval=0.2)
        except NotReadyError as e:
            pytest.fail(f"{e}:\n{server.log_text()}")
        yield server
    finally:
        server.stop()
