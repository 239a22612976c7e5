"""The gunicorn worker: uvicorn's, plus a drain flag set the moment SIGTERM arrives.

Readiness reads the flag, so ``/readyz`` answers 503 while in-flight requests finish;
uvicorn's graceful shutdown is bounded by gunicorn's ``graceful_timeout``.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from service.lifecycle import begin_draining

__all__ = ["Worker"]


class _DrainingServer(Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        begin_draining()
        super().handle_exit(sig, frame)


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    """``worker_class = "service.worker.Worker"`` in the gunicorn config."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto", "lifespan": "on"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Finish in-flight requests a little before gunicorn would SIGKILL the worker.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 1)

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
