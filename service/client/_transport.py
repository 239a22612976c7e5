"""How bytes move: one pooled httpx client per ``Client``, retries only where they are
safe, and the translation of httpx's failures and the server's refusals into the client's
exceptions.

A retry is safe when the request cannot have reached the server (the connection was never
made: refused, unreachable, no free connection in the pool) or when the request is a GET,
which changes nothing on the server however often it arrives. A POST whose connection broke
after it was written may have been predicted on already: it is never sent again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from service import __version__
from service.client._calls import Call
from service.client._errors import ClientTimeoutError, ConnectError, ServerError, server_error
from service.client._errors import TransportError as ClientTransportError

__all__ = [
    "API_KEY_ENV",
    "URL_ENV",
    "Retries",
    "base_url",
    "failed",
    "headers_for",
    "refusal",
    "request_args",
]

URL_ENV = "DIMTENSOR_SERVE_URL"
API_KEY_ENV = "DIMTENSOR_SERVE_API_KEY"
DEFAULT_URL = "http://localhost:8080"

# Never sent: the connection was not made.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Sent, or maybe sent: safe to repeat for an idempotent method only.
_BROKEN: tuple[type[Exception], ...] = (
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Retries:
    """How often a safe retry is made, and the pause before retry n: backoff * 2**n."""

    attempts: int = 2
    backoff: float = 0.1
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 0 or self.backoff < 0:
            raise ValueError("retries and backoff must not be negative")

    def delay(self, retry: int) -> float | None:
        """The pause before retry number `retry` (0-based), or None when none is left."""
        if retry >= self.attempts:
            return None
        return float(min(self.backoff * 2**retry, self.max_backoff))

    @staticmethod
    def safe(method: str, exc: Exception) -> bool:
        """Whether `exc` on a `method` request allows sending it again."""
        if isinstance(exc, _NOT_SENT):
            return True
        return method.upper() in _IDEMPOTENT and isinstance(exc, _BROKEN)


def base_url(url: str | None) -> str:
    """The server's URL: given, else ``$DIMTENSOR_SERVE_URL``, else localhost:8080."""
    return (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def headers_for(api_key: str | None) -> dict[str, str]:
    """Every request's headers: who calls, and the API key as a bearer token."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"user-agent": f"dimtensor-serve-client/{__version__}"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


def request_args(call: Call) -> dict[str, Any]:
    """``httpx.Client.request`` keyword arguments for a call."""
    return {
        "method": call.method,
        "url": call.path,
        "content": call.content,
        "headers": dict(call.headers),
        "params": call.params,
    }


def failed(exc: httpx.TransportError, call: Call) -> ClientTransportError:
    """httpx's failure as the client's: a timeout, a connection never made, or a break."""
    where = f"{call.method} {call.path}"
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return ClientTimeoutError(f"{where}: no answer in time ({type(exc).__name__})")
    if isinstance(exc, _NOT_SENT):
        return ConnectError(f"{where}: could not connect: {exc}")
    return ClientTransportError(f"{where}: the connection broke: {exc!r}")


def refusal(response: httpx.Response) -> ServerError:
    """The server's refusal as the exception of its kind."""
    try:
        body: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = response.text
    return server_error(response.status_code, body, _headers(response.headers))


def _headers(headers: httpx.Headers) -> Mapping[str, str]:
    return {k.lower(): v for k, v in headers.items()}
