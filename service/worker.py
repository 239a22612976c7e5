"""The gunicorn worker: uvicorn's, with one way to stop that drops no request.

A worker stops for two reasons: SIGTERM (a rolling update, a scale-in: gunicorn's master
forwards it, then SIGKILLs at ``GRACEFUL_TIMEOUT``) and recycling (it served
``MAX_REQUESTS``). uvicorn's own shutdown closes every idle keep-alive connection at once,
and a client that has just sent a request on one gets a reset: the request is lost. Both
reasons here take the same path, the drain (``_Server.shutdown``):

1. SIGTERM turns readiness false at once (``/readyz`` 503); recycling does not (the pod is
   still fine). From then on every answer carries ``Connection: close``
   (``service.lifecycle.is_retiring``).
2. The worker stops accepting (the other workers, or other pods, take new connections).
3. Each open connection is let go only when nothing can be on its way on it: after the
   answer to the request it carries, or once it has been idle for ``DRAIN_IDLE_SECONDS``
   (a request arriving in that time is answered, with ``Connection: close``).
4. The worker exits when no connection is left, or at its deadline (a second under
   ``GRACEFUL_TIMEOUT`` after the drain began, so before gunicorn's SIGKILL), whichever
   comes first; requests still running then are cancelled, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import socket
import sys
import time
import weakref
from types import FrameType
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from service.lifecycle import begin_draining, begin_retiring
from service.server_settings import ServerSettings

__all__ = ["Worker", "drain_bound"]

log = logging.getLogger("service.worker")

TICK = 0.1  # seconds between two looks at the open connections, as uvicorn's main loop


class _Server(Server):
    """uvicorn's server, stopped by the drain alone (see the module docstring)."""

    def __init__(
        self, config: Config, *, retire_after: int | None = None, idle_grace: float = 0.0
    ) -> None:
        super().__init__(config)
        self.retire_after = retire_after
        self.idle_grace = idle_grace
        self._stop_began: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[socket.socket] = []
        self._closed_listeners = False
        self._idle_timers: weakref.WeakKeyDictionary[Any, asyncio.TimerHandle] = (
            weakref.WeakKeyDictionary()
        )
        self._adopting: set[asyncio.Task[Any]] = set()
        self.idled_out = 0  # connections the drain closed after the idle grace

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._listeners = list(sockets or [])
        await super().startup(sockets=sockets)

    def _protocol(self) -> asyncio.Protocol:
        """A protocol for one connection, as the listener's would make it."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=asyncio.get_running_loop(),
        )
        return protocol

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM (or SIGINT): readiness turns false now, before the loop looks again."""
        begin_draining()
        self._begin_stop()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        return self._served_quota()

    def _served_quota(self) -> bool:
        """MAX_REQUESTS reached: recycle through the drain, like SIGTERM."""
        limit = self.retire_after
        if limit is None or self.server_state.total_requests < limit:
            return False
        begin_retiring()
        self._begin_stop()
        self._stop_accepting()  # on the loop already: before the log line tells anyone
        log.info("served %d requests: retiring once open connections close", limit)
        return True

    def _begin_stop(self) -> None:
        """Start the deadline's clock, and stop accepting as soon as the loop can.

        Called from a signal handler too: the listeners are closed by the loop
        (``call_soon_threadsafe``), not here, in the middle of whatever the loop was doing.
        """
        if self._stop_began is not None:
            return
        self._stop_began = time.monotonic()
        if self.started and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        """Close this worker's listeners; new connections go to the others (or nowhere).

        What the kernel has already queued on a listener is taken first: when the last
        process closes a listener, the kernel resets the connections still queued, and
        their clients have sent their requests on them already.
        """
        if self._closed_listeners:
            return
        self._closed_listeners = True
        for sock in self._listeners:
            self._adopt_queued(sock)
        for server in getattr(self, "servers", []):
            server.close()
        for sock in self._listeners:
            sock.close()

    def _adopt_queued(self, listener: socket.socket) -> None:
        """Accept every connection waiting on `listener` and serve it like the others."""
        loop = asyncio.get_running_loop()  # a callback of the loop, or the drain itself
        while True:
            try:
                listener.setblocking(False)  # gunicorn's and asyncio's are already
                connection, _ = listener.accept()
            except OSError:  # nothing left (EAGAIN), or the listener is closed already
                return
            task = loop.create_task(
                loop.connect_accepted_socket(self._protocol, connection, ssl=self.config.ssl)
            )
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _deadline(self) -> float:
        """When the drain gives up: uvicorn's graceful bound after it began (none: never)."""
        bound = self.config.timeout_graceful_shutdown
        if bound is None:
            return math.inf
        return (self._stop_began or time.monotonic()) + bound

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """The drain: the one way this worker stops (SIGTERM and recycling alike)."""
        self._begin_stop()
        deadline = self._deadline()
        self._listeners += [s for s in sockets or [] if s not in self._listeners]
        self._stop_accepting()
        log.info("not accepting; %d open connection(s) to drain", self._open())
        await self._drain(deadline)
        log.info("drained: %d idle connection(s) closed after the idle grace", self.idled_out)
        await self._finish(deadline)
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _drain(self, deadline: float) -> None:
        """Wait for the open connections to end, letting each go when it may."""
        counter = 0
        while self._open() and not self._given_up(deadline):
            for connection in list(self.server_state.connections):
                self._release(connection)
            await Server.on_tick(self, counter)  # the Date header, gunicorn's heartbeat
            counter += 1
            await asyncio.sleep(TICK)

    def _open(self) -> int:
        """Connections still open, and those taken from a listener's queue, still opening."""
        return len(self.server_state.connections) + len(self._adopting)

    def _given_up(self, deadline: float) -> bool:
        return self.force_exit or time.monotonic() >= deadline

    def _release(self, connection: Any) -> None:
        """Arm an idle close on a connection that carries no request.

        A connection serving a request is left alone: its answer says ``Connection: close``
        and uvicorn closes it after the answer. An idle one gets ``idle_grace`` seconds for
        one more request. The timer takes the protocol's keep-alive timer's place, so the
        protocol cancels it itself as soon as a byte arrives (and the next look arms it
        again if the bytes stop before a whole request came).
        """
        if not hasattr(connection, "timeout_keep_alive_handler"):
            connection.shutdown()  # not an HTTP/1 protocol we know (a websocket): uvicorn's way
            return
        cycle = connection.cycle
        if cycle is not None and not cycle.response_complete:
            return
        armed = connection.timeout_keep_alive_task
        if armed is not None and armed is self._idle_timers.get(connection):
            return
        if armed is not None:
            armed.cancel()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.idle_grace, self._close_idle, connection)
        connection.timeout_keep_alive_task = timer
        self._idle_timers[connection] = timer

    def _close_idle(self, connection: Any) -> None:
        """The idle grace is over and no byte came: close, as the keep-alive timer would."""
        self.idled_out += 1
        connection.timeout_keep_alive_handler()

    async def _finish(self, deadline: float) -> None:
        """Past the drain: end what the deadline left over, as uvicorn's shutdown does."""
        left = list(self.server_state.connections)
        if left:
            log.warning("graceful deadline: closing %d connection(s) still open", len(left))
        for connection in left:
            connection.shutdown()
        while self.server_state.tasks and not self._given_up(deadline):
            await asyncio.sleep(TICK)
        if self.server_state.tasks:
            log.error("graceful deadline: cancelling %d request(s)", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="graceful deadline")


def drain_bound(graceful_timeout: int) -> int:
    """Seconds a worker's drain may last: a second under gunicorn's ``graceful_timeout``,
    so that the worker ends its requests itself before gunicorn SIGKILLs it (at least 1)."""
    return max(1, graceful_timeout - 1)


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    """``worker_class = "service.worker.Worker"`` in the gunicorn config."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto", "lifespan": "on"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = drain_bound(self.cfg.graceful_timeout)
        # gunicorn already added the jitter to max_requests; recycling is the drain's.
        self._retire_after = self.config.limit_max_requests or None
        self.config.limit_max_requests = None
        self._idle_grace = ServerSettings.from_environ().drain_idle_seconds

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _Server(
            config=self.config, retire_after=self._retire_after, idle_grace=self._idle_grace
        )
        # gunicorn's master answers SIGINT/SIGQUIT (Ctrl-C) with SIGQUIT to its workers.
        # uvicorn_worker's own handler only marks the gunicorn worker dead, which the
        # uvicorn server never reads: the worker sat out GRACEFUL_TIMEOUT until SIGKILL.
        # Here SIGQUIT takes the drain, which ends at once when no connection is open.
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGQUIT, server.handle_exit, signal.SIGQUIT, None
        )
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
