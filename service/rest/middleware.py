"""ASGI middleware around every door: request ids and access logs, body limit, timeout, auth.

Pure ASGI (no BaseHTTPMiddleware) so a refused body is refused before it is read and
nothing is buffered twice. Refusals speak the protocol of the path they refuse:
``{"error"}`` under ``/v2``, problem details elsewhere.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Iterable
from typing import Any

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.lifecycle import is_retiring

__all__ = [
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "RequestContextMiddleware",
    "TimeoutMiddleware",
]

access_log = logging.getLogger("service.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    kind: str,
    title: str,
    detail: str,
    headers: Iterable[tuple[str, str]] = (),
    **extra: Any,
) -> None:
    """Send a complete error response in the path's protocol."""
    path: str = scope.get("path", "")
    if path == "/v2" or path.startswith("/v2/"):
        body: dict[str, Any] = {"error": detail}
        media = "application/json"
    else:
        body = {
            "type": f"/problems/{kind}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            **extra,
        }
        media = "application/problem+json"
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Take or make ``X-Request-ID``, return it, and log one JSON access line per request.

    Payload values are never logged; the model that answered is, when a door set it in
    ``scope["state"]["model"]``.
    """

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else os.urandom(16).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                if is_retiring():  # this worker is going away: do not keep the connection
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log and access_log.isEnabledFor(logging.INFO):
                _log_access(scope, status, request_id, started, state.get("model"))


def _log_access(scope: Scope, status: int, request_id: str, started: float, model: object) -> None:
    """One access line. The record is made directly: ``Logger.info`` would walk the stack
    to find the caller, which costs more than everything else the line needs."""
    method, path = scope["method"], scope["path"]
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "model": model,
            "client": (scope.get("client") or ("", 0))[0],
        },
    )
    access_log.handle(record)


class _SendTracker:
    """A ``send`` that remembers whether the response has started: an error can only be
    answered while it has not."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body reader re-raises
    it (it turns other exceptions into a 400) and the door answers 413 in its protocol."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request bodies are limited to {limit} bytes (MAX_BODY_BYTES); "
            f"received more than {limit} bytes",
        )


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, by Content-Length before reading a byte,
    or while streaming a chunked body as soon as the limit is passed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, send, length)
            return
        received = 0
        sent = _SendTracker(send)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, sent)
        except _BodyTooLarge:
            if not sent.started:
                await self._refuse(scope, send, f"more than {self.max_bytes}")

    async def _refuse(self, scope: Scope, send: Send, received: str) -> None:
        await send_error(
            scope,
            send,
            413,
            "body-too-large",
            "Request body too large",
            f"request bodies are limited to {self.max_bytes} bytes (MAX_BODY_BYTES); "
            f"received {received} bytes",
            [("connection", "close")],
            limit=self.max_bytes,
        )


async def _timed_out(work: Awaitable[None], seconds: float) -> bool:
    """Run `work` under a deadline; True when the deadline cut it short.

    asyncio's own timeout (Python >= 3.11) costs a timer handle; anyio's cancel scope,
    used on 3.10, costs several times more per request.
    """
    if sys.version_info >= (3, 11):
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                await work
        except TimeoutError:
            if not deadline.expired():
                raise  # the app's own TimeoutError, not ours
            return True
        return False
    with anyio.move_on_after(seconds) as scope:  # type: ignore[unreachable,unused-ignore]  # 3.10
        await work
    return bool(scope.cancelled_caught)  # pragma: no cover


class TimeoutMiddleware:
    """Answer 504 when a request takes longer than `seconds` (work moved to a thread
    keeps running to completion; the client is not kept waiting)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _SendTracker(send)
        if await _timed_out(self.app(scope, receive, sent), self.seconds) and not sent.started:
            await send_error(
                scope,
                send,
                504,
                "request-timeout",
                "Request timed out",
                f"the request took longer than {self.seconds:g} s (REQUEST_TIMEOUT)",
                limit_seconds=self.seconds,
            )


class AuthMiddleware:
    """API keys (``Authorization: Bearer <key>`` or ``X-API-Key``), compared in constant
    time against every configured key; paths in `exempt` pass without a key."""

    def __init__(self, app: ASGIApp, keys: Iterable[str], exempt: Iterable[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys if k]
        self.exempt = frozenset(exempt)

    def _authorized(self, scope: Scope) -> bool:
        presented = _header(scope, b"x-api-key")
        auth = _header(scope, b"authorization")
        if presented is None and auth and auth[:7].lower() == "bearer ":
            presented = auth[7:].strip()
        if not presented:
            return False
        candidate = presented.encode("utf-8", "surrogateescape")
        ok = False
        for key in self.keys:  # no early exit: time does not depend on which key matched
            ok |= hmac.compare_digest(candidate, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        await send_error(
            scope,
            send,
            401,
            "unauthorized",
            "Unauthorized",
            "this server requires an API key: send 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'",
            [("www-authenticate", 'Bearer realm="dimtensor-serve"')],
        )
