"""The gunicorn worker: uvicorn's, with a drain flag and a recycling that drops nothing.

- SIGTERM sets the drain flag at once, so ``/readyz`` answers 503 while in-flight
  requests finish; uvicorn's graceful shutdown is bounded by ``GRACEFUL_TIMEOUT``.
- MAX_REQUESTS: uvicorn's own limit closes idle keep-alive connections at the moment
  it exits, and a client that just sent a request on one gets a reset. Here the worker
  instead stops accepting (the other workers share the socket), answers what arrives on
  its open connections with ``Connection: close``, and exits once they are gone (or
  after the keep-alive timeout).
"""

from __future__ import annotations

import logging
import sys
import time
from types import FrameType
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from service.lifecycle import begin_draining, begin_retiring

__all__ = ["Worker"]

log = logging.getLogger("service.worker")


class _Server(Server):
    retire_after: int | None = None
    _retiring_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        begin_draining()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        return self._retired()

    def _retired(self) -> bool:
        limit = self.retire_after
        if limit is None or self.server_state.total_requests < limit:
            return False
        now = time.monotonic()
        if self._retiring_since is None:
            self._retiring_since = now
            begin_retiring()
            for listener in self.servers:
                listener.close()  # stop accepting; the other workers take new connections
            log.info("served %d requests: retiring once open connections close", limit)
        deadline = self._retiring_since + self.config.timeout_keep_alive + 1
        return not self.server_state.connections or now > deadline


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    """``worker_class = "service.worker.Worker"`` in the gunicorn config."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto", "lifespan": "on"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Finish in-flight requests a little before gunicorn would SIGKILL the worker.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 1)
        # gunicorn already added the jitter to max_requests; recycling is ours (above).
        self._retire_after = self.config.limit_max_requests or None
        self.config.limit_max_requests = None

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        server.retire_after = self._retire_after
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
