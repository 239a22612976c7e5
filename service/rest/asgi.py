"""Small ASGI helpers shared by the operations middleware and the prediction doors.

The two prediction doors and the middleware around them work on raw ASGI messages:
Starlette's ``Request``/``Response`` objects and FastAPI's routing cost more per 1-row
request than the whole unit work (see docs/performance.md). These helpers keep that
raw code short and in one place.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["header", "read_body", "send_response"]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header `name` (lower-case bytes, as ASGI gives them)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole request body; ``ClientDisconnect`` when the client went away (as
    Starlette's ``Request.body`` raises it)."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body  # the usual case: one message
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(response: Response, send: Send) -> None:
    """Send a complete (non-streaming) Starlette response: its status, headers and body,
    without the background-task machinery of ``Response.__call__``."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})
