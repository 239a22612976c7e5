"""The operations layer: one ASGI middleware around every door.

Request ids, the access line, HTTP metrics, API-key auth, the body limit and the request
deadline are one middleware, not six: each layer of an ASGI stack wraps ``send`` and
``receive`` again and costs several microseconds per request under load, and a 1-row
prediction takes about 100 us in all (docs/performance.md measures each part).

The layer knows no protocol: a refusal (401, 413, 504) is a ``Refusal`` that the door
owning the path shapes (``shaper_for``, from the route table): ``{"error"}`` under ``/v2``,
problem details elsewhere. Every answer, refusals included, carries ``X-Request-ID``, is
logged and is counted. The access line names the model the core resolved for the request
(``service.dataplane.requested_model``).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.dataplane import requested_model
from service.lifecycle import is_retiring
from service.logs import AccessLog
from service.metrics.tally import Metrics
from service.rest.asgi import send_response
from service.rest.routing import ErrorShaper, Refusal

__all__ = ["Deadlines", "Operations", "RouteNames"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}\Z")  # \Z: "$" admits a final "\n"


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body reader re-raises
    it (it turns other exceptions into a 400) and the door answers 413 in its protocol."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request bodies are limited to {limit} bytes (MAX_BODY_BYTES); "
            f"received more than {limit} bytes",
        )


class Deadlines:
    """Request deadlines, checked by one timer per event loop.

    ``asyncio.timeout`` arms and cancels a timer per request, which costs about 18 us
    per request under load here; a set of deadlines swept every `tick` seconds costs a
    dict insert and delete. A request over its deadline is cancelled like
    ``asyncio.timeout`` cancels it, between `seconds` and `seconds + tick` after it began.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 10)
        self._due: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}

    def enter(self) -> asyncio.Task[Any] | None:
        """Start the current task's deadline (None outside a task: no deadline)."""
        task = asyncio.current_task()
        if task is None:
            return None
        loop = task.get_loop()
        self._due[task] = loop.time() + self.seconds
        if loop not in self._timers:
            self._timers[loop] = loop.call_later(self.tick, self._sweep, loop)
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> bool:
        """End `task`'s deadline; True when it expired (the task was cancelled for it)."""
        if task is None:
            return False
        self._due.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            uncancel = getattr(task, "uncancel", None)  # Python >= 3.11
            if uncancel is not None:
                uncancel()
            return True
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        pending = False
        for task, due in list(self._due.items()):
            if task.get_loop() is not loop:
                continue
            if due <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
            else:
                pending = True
        if pending:
            self._timers[loop] = loop.call_later(self.tick, self._sweep, loop)
        else:
            del self._timers[loop]


class RouteNames:
    """The route template a request matched (the ``handler`` label of HTTP metrics):
    ``/v1/models/{name}``, not ``/v1/models/pendulum``; ``none`` when nothing matched,
    as prometheus-fastapi-instrumentator named it. Kept per (method, path), bounded."""

    def __init__(self, app: Any, known: dict[tuple[str, str], str] | None = None) -> None:
        self.app = app
        self._cache: dict[tuple[str, str], str] = dict(known or {})
        self._known = dict(known or {})

    def __call__(self, scope: Scope) -> str:
        key = (scope["method"], scope["path"])
        found = self._cache.get(key)
        if found is None:
            found = self._match(scope)
            if len(self._cache) >= 4096:
                self._cache = dict(self._known)
            self._cache[key] = found
        return found

    def _match(self, scope: Scope) -> str:
        partial = None
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(route.path)
            if match == Match.PARTIAL and partial is None:
                partial = str(route.path)
        return partial or "none"


class Operations:
    """Everything around the doors, in one pass over the request.

    Args:
        app: the doors.
        shaper_for: the protocol that owns a path shapes refusals on it (route table).
        metrics: HTTP metrics are recorded here (None: not recorded).
        access_log: one line per request (None: no access log).
        route_names: names the ``handler`` label.
        max_body_bytes: larger bodies get a 413 (by Content-Length before a byte is
            read, or while a chunked body streams).
        timeout: seconds before a 504 answers.
        api_keys: accepted keys; None: no auth.
        auth_exempt: paths that need no key.
        metrics_exempt: route templates HTTP metrics leave out (health, /metrics).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        shaper_for: Callable[[str], ErrorShaper],
        metrics: Metrics | None,
        access_log: AccessLog | None,
        route_names: Callable[[Scope], str],
        max_body_bytes: int,
        timeout: float,
        api_keys: Iterable[str] | None = None,
        auth_exempt: Iterable[str] = (),
        metrics_exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.shaper_for = shaper_for
        self.metrics = metrics
        self.access_log = access_log
        self.route_names = route_names
        self.max_body_bytes = max_body_bytes
        self.deadlines = Deadlines(timeout)
        self.keys = None if api_keys is None else [k.encode() for k in api_keys if k]
        self.auth_exempt = frozenset(auth_exempt)
        self.metrics_exempt = frozenset(metrics_exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = length = api_key = authorization = None
        for key, value in scope["headers"]:  # one pass over the headers for every concern
            if key == b"content-length":
                length = value
            elif key == b"x-request-id":
                given = value.decode("latin-1")
            elif key == b"x-api-key":
                api_key = value
            elif key == b"authorization":
                authorization = value
        request_id = given if given and _REQUEST_ID.match(given) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        reply = _Reply(send, request_id.encode())
        model = requested_model.set(None)
        try:
            await self._guarded(scope, receive, reply, length, api_key, authorization)
        finally:
            self._record(scope, reply, request_id, length, started)
            requested_model.reset(model)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        reply: _Reply,
        length: bytes | None,
        api_key: bytes | None,
        authorization: bytes | None,
    ) -> None:
        if (
            self.keys is not None
            and scope["path"] not in self.auth_exempt
            and not self._authorized(api_key, authorization)
        ):
            await self._refuse(scope, reply, _UNAUTHORIZED)
            return
        if length is not None:
            declared = _declared(length)
            if declared is None or declared > self.max_body_bytes:
                await self._refuse_body(scope, reply, length.decode("latin-1"))
                return
        else:  # chunked: count while it streams (a Content-Length is enforced by h11/httptools)
            receive = self._counting(receive)
        task = self.deadlines.enter()
        try:
            await self.app(scope, receive, reply)
        except asyncio.CancelledError:
            if not self.deadlines.leave(task):
                raise
            task = None
            if not reply.started:
                await self._timed_out(scope, reply)
        except BodyTooLarge:
            if not reply.started:
                await self._refuse_body(scope, reply, f"more than {self.max_body_bytes}")
        finally:
            self.deadlines.leave(task)

    def _record(
        self, scope: Scope, reply: _Reply, request_id: str, length: bytes | None, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        if self.access_log is not None:
            self.access_log.line(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=reply.status,
                latency_ms=round(seconds * 1000, 3),
                model=requested_model.get(),
                client=(scope.get("client") or ("", 0))[0],
            )
        if self.metrics is not None:
            handler = self.route_names(scope)
            if handler not in self.metrics_exempt:
                size = (_declared(length) or 0) if length is not None else 0
                self.metrics.observe_http(
                    scope["method"], reply.status, handler, size, reply.length, seconds
                )

    def _authorized(self, api_key: bytes | None, authorization: bytes | None) -> bool:
        presented = api_key
        if presented is None and authorization and authorization[:7].lower() == b"bearer ":
            presented = authorization[7:].strip()
        if not presented:
            return False
        ok = False
        for key in self.keys or ():  # no early exit: time does not depend on which matched
            ok |= hmac.compare_digest(presented, key)
        return ok

    def _counting(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return counting_receive

    async def _refuse(self, scope: Scope, send: Send, refusal: Refusal) -> None:
        """Answer `refusal` in the protocol of the door that owns the path."""
        await send_response(self.shaper_for(scope["path"]).refusal(scope, refusal), send)

    async def _refuse_body(self, scope: Scope, send: Send, received: str) -> None:
        limit = self.max_body_bytes
        refusal = Refusal(
            413,
            "body-too-large",
            "Request body too large",
            f"request bodies are limited to {limit} bytes (MAX_BODY_BYTES); "
            f"received {received} bytes",
            headers={"connection": "close"},
            extra={"limit": limit},
        )
        await self._refuse(scope, send, refusal)

    async def _timed_out(self, scope: Scope, send: Send) -> None:
        seconds = self.deadlines.seconds
        refusal = Refusal(
            504,
            "request-timeout",
            "Request timed out",
            f"the request took longer than {seconds:g} s (REQUEST_TIMEOUT)",
            extra={"limit_seconds": seconds},
        )
        await self._refuse(scope, send, refusal)


_UNAUTHORIZED = Refusal(
    401,
    "unauthorized",
    "Unauthorized",
    "this server requires an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
    headers={"www-authenticate": 'Bearer realm="dimtensor-serve"'},
)


def _declared(length: bytes) -> int | None:
    """A Content-Length's value; None unless ASCII digits (between optional spaces and
    tabs, RFC 9110 5.5). int() refuses strings of more than 4300 digits (a ValueError, a
    500): 20 or more digits past the leading zeros are read as 10**20, more than any body
    limit."""
    length = length.strip(b" \t")
    if not length.isdigit():
        return None
    digits = length.lstrip(b"0")
    return int(digits or b"0") if len(digits) < 20 else 10**20


class _Reply:
    """The ``send`` the app sees: adds ``X-Request-ID`` (and ``Connection: close`` while
    the worker retires) and remembers the status and length for the log and metrics."""

    __slots__ = ("_request_id", "_send", "length", "started", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        self.started = False
        self.status = 500  # what the client gets when the app fails before answering
        self.length = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = list(message.get("headers", ()))
            for key, value in headers:
                if key == b"content-length":
                    self.length = int(value)
                    break
            headers.append((b"x-request-id", self._request_id))
            if is_retiring():  # this worker is going away: do not keep the connection
                headers.append((b"connection", b"close"))
            message["headers"] = headers
        await self._send(message)
