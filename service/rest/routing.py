"""The one route table: every door's routes, the fast way into them, and who shapes errors.

A door (``NativeDoor``, ``OipDoor``, ...) is an object the app factory builds once over
the one ``DataPlane``. It lists its routes on a FastAPI ``APIRouter`` whose route class is
its protocol's ``DoorRoute`` subclass, so every failure inside one of its routes is shaped
by its protocol's ``ErrorShaper`` (problem+json, ``{"error"}``). The routes stay ordinary
``APIRoute`` objects: OpenAPI, ``app.routes`` and anyone mounting the app see them as usual.

An endpoint marked ``@raw_body`` (the prediction doors) is called on the raw ASGI message:
it receives a ``Request`` whose body is already read, plus its path parameters, which is
what FastAPI would pass it, without FastAPI's request and dependency machinery (about as
much time as the whole unit work of a one-row request: docs/performance.md).

``RouteTable`` holds every door's routes in one list. The factory mounts that list on the
FastAPI app, and ``DoorDispatch`` (inside the operations layer) hands a request that matches
a raw route straight to that same route object, skipping Starlette's exception middleware,
FastAPI's exit stack and the scan over every route. Both ways run the same route object and
so the same endpoint. The table also says which protocol owns a path (``shaper_for``), so
that a refusal made outside any door (401, 413, 504, an unknown path) speaks the protocol of
the door that owns the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from service.rest.asgi import read_body, send_response

__all__ = [
    "CLIENT_CLOSED",
    "Door",
    "DoorDispatch",
    "DoorRoute",
    "ErrorShaper",
    "Refusal",
    "RouteTable",
    "raw_body",
]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])

CLIENT_CLOSED = 499
"""The status recorded (access line, HTTP series) for a request whose client went away
before its body arrived: nobody is left to answer, and it is not the server's failure
(nginx's "client closed request"). No body: nothing is built for nobody."""


@dataclass(frozen=True)
class Refusal:
    """A request the operations layer refuses before (or instead of) any door's answer.

    ``kind`` and ``title`` name the refusal for protocols that carry them (problem+json);
    ``detail`` is the sentence every protocol shows; ``extra`` holds structured fields.
    """

    status: int
    kind: str
    title: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ErrorShaper(Protocol):
    """How one protocol answers failures: the only place its error bodies are built."""

    def error(self, exc: Exception, scope: Scope) -> Response:
        """Any failure raised inside a route of this protocol (domain errors, validation
        errors, HTTP errors, and unexpected ones as a 500 that names the request id)."""

    def refusal(self, scope: Scope, refusal: Refusal) -> Response:
        """A refusal of the operations layer (401, 413, 504) in this protocol."""


class DoorRoute(APIRoute):
    """A route of a door: failures inside it are shaped by its protocol's ``shaper``.

    Subclassed once per protocol (``ProblemRoute``, ``OipRoute``) with the shaper as a class
    attribute, and used as the ``route_class`` of the door's ``APIRouter``.
    """

    shaper: ClassVar[ErrorShaper]

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.raw = bool(getattr(endpoint, "raw_body", False))
        if self.raw:
            self._check_raw()
            self.app = self.handle_raw

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        failed = self.failed

        async def shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return failed(exc, request.scope)

        return shaped

    async def handle_raw(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route on the raw ASGI message: the endpoint gets a ``Request`` with the body
        already read and its path parameters as keyword arguments."""
        try:
            request = _ReadRequest(scope, await read_body(receive))
            response: Response = await self.endpoint(request, **scope.get("path_params", {}))
        except Exception as exc:
            response = self.failed(exc, scope)
        await send_response(response, send)

    def failed(self, exc: Exception, scope: Scope) -> Response:
        """The answer to a failure inside this route: the protocol's error, or nothing
        (``CLIENT_CLOSED``) when the client went away while its body was read."""
        if _client_gone(exc):
            return Response(status_code=CLIENT_CLOSED)
        return self.shaper.error(exc, scope)

    def _check_raw(self) -> None:
        """A raw endpoint takes only the request and path parameters: anything FastAPI
        would have to solve (query, header, body, dependencies) would be silently lost."""
        d = self.dependant
        extra = d.query_params or d.header_params or d.cookie_params or d.body_params
        if extra or d.dependencies or d.request_param_name is None:
            raise TypeError(
                f"raw endpoint {self.name!r} must take (request: Request, <path params>) only"
            )


def _client_gone(exc: Exception) -> bool:
    """The client disconnected while its body was read: Starlette's ``ClientDisconnect``,
    or FastAPI's 400 "error parsing the body" raised from it."""
    return isinstance(exc, ClientDisconnect) or isinstance(exc.__cause__, ClientDisconnect)


def raw_body(endpoint: Endpoint) -> Endpoint:
    """Mark a door endpoint to be called on the raw ASGI message (see ``DoorRoute``)."""
    endpoint.raw_body = True  # type: ignore[attr-defined]
    return endpoint


class _ReadRequest(Request):
    """A request whose body was read already: ``await request.body()`` returns it at once
    (Starlette keeps a read body in ``Request._body``)."""

    def __init__(self, scope: Scope, body: bytes) -> None:
        super().__init__(scope)
        self._body = body


class Door(Protocol):
    """A protocol's way in: its routes over the data plane and who shapes its errors."""

    @property
    def prefix(self) -> str:
        """The paths it owns: ``"/v2"`` owns ``/v2`` and ``/v2/...``; ``""`` the rest."""

    @property
    def shaper(self) -> ErrorShaper:
        """Its protocol's error shaper (the one its ``DoorRoute`` class carries)."""

    @property
    def documented(self) -> Sequence[type[BaseModel]]:
        """Bodies its raw routes read by hand, to be listed in OpenAPI."""

    def router(self) -> APIRouter:
        """The door's routes (their ``route_class`` is its protocol's ``DoorRoute``)."""


class RouteTable:
    """Every door's routes in one list, and the owner of every path."""

    def __init__(self, doors: Sequence[Door]) -> None:
        self.doors = tuple(doors)
        self.routes: list[DoorRoute] = []
        for door in self.doors:
            for route in door.router().routes:
                if not isinstance(route, DoorRoute):
                    raise TypeError(f"{type(door).__name__}: {route} is not a DoorRoute")
                self.routes.append(route)
        self._owners = sorted(((d.prefix, d.shaper) for d in self.doors), key=lambda o: -len(o[0]))
        if not any(prefix == "" for prefix, _ in self._owners):
            raise ValueError("one door must own the paths no other door claims (prefix '')")

    @property
    def raw_routes(self) -> list[DoorRoute]:
        """The routes ``DoorDispatch`` serves directly."""
        return [r for r in self.routes if r.raw]

    def shaper_for(self, path: str) -> ErrorShaper:
        """The protocol of the door that owns `path` (longest prefix wins)."""
        for prefix, shaper in self._owners:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                return shaper
        raise AssertionError("unreachable: the '' prefix owns every path")  # pragma: no cover

    def mount(self, app: FastAPI) -> None:
        """Add every route to `app` (flat: ``app.router.routes`` holds the routes
        themselves, which ``RouteNames`` matches for the metrics' ``handler`` label), list
        the hand-read bodies in OpenAPI, and let the owning door shape whatever fails
        outside a route (no route matched, wrong method, an operations route failing)."""
        app.router.routes.extend(self.routes)
        for door in self.doors:
            for model in door.documented:
                _document_schema(app, model)
        for cls in (HTTPException, RequestValidationError, Exception):
            app.add_exception_handler(cls, self._shaped)

    async def _shaped(self, request: Request, exc: Exception) -> Response:
        return self.shaper_for(request.url.path).error(exc, request.scope)


class DoorDispatch:
    """ASGI, inside the operations layer: a request for a raw route goes straight to that
    route (the same object the app's router holds); everything else goes on to the app.

    Which raw route a (method, path) matches is found by the routes' own ``matches`` and
    kept (bounded, like the metrics' route names): paths repeat (one per model), and
    Starlette's matching costs more than a dict lookup on every request.
    """

    CACHE_SIZE = 1024

    def __init__(self, app: ASGIApp, table: RouteTable) -> None:
        self.app = app
        self.routes = table.raw_routes
        self._matched: dict[tuple[str, str], tuple[DoorRoute, Scope] | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self._match(scope)
            if found is not None:  # a FULL match: path and method are the route's
                route, child = found
                scope.update(child)
                await route.handle_raw(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[DoorRoute, Scope] | None:
        key = (scope["method"], scope["path"])
        if key in self._matched:
            return self._matched[key]
        found = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                found = route, child
                break
        if len(self._matched) >= self.CACHE_SIZE:
            self._matched.clear()
        self._matched[key] = found
        return found


def _document_schema(app: FastAPI, model: type[BaseModel]) -> None:
    """Make sure `model` (and the models it nests) are in the OpenAPI components: FastAPI
    lists only the models its routes declare, and the raw routes declare none."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if model.__name__ not in components:
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in doc.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = doc
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
