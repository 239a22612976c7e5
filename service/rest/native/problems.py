"""The native protocol's errors: RFC 9457 problem details, built here and nowhere else.

Endpoints only raise; ``ProblemShaper`` turns each error into ``application/problem+json``
with a machine-readable ``type`` (``/problems/<kind>``), the human ``detail`` and the
error's structured fields as extension members. A problem type is dereferenceable:
``GET /problems/<kind>`` describes it. Unknown failures become a 500 problem that
names the request id and never carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from service import errors
from service.dataplane import DataPlane
from service.rest.routing import DoorRoute, Refusal

__all__ = [
    "PROBLEMS",
    "PROBLEM_STATUS",
    "ProblemDoor",
    "ProblemRoute",
    "ProblemShaper",
    "describe_kind",
    "problem_response",
    "problem_responses",
    "status_for",
]

log = logging.getLogger("service.rest")

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Most specific first: the first class an error is an instance of decides its status.
PROBLEM_STATUS: tuple[tuple[type[errors.ServiceError], int], ...] = (
    (errors.UnitError, 422),
    (errors.IncompatibleUnitsError, 422),
    (errors.InputError, 422),
    (errors.ModelNotFoundError, 404),
    (errors.ModelNotReadyError, 503),
    (errors.OverloadedError, 503),
    (errors.ManifestError, 503),
)

# Problems the HTTP layer itself raises (not domain errors).
HTTP_KINDS: dict[str, tuple[str, str]] = {
    "malformed-json": ("Malformed JSON body", "The body is not valid JSON."),
    "invalid-body": ("Invalid request body", "The body does not match the schema."),
    "not-found": ("Not found", "No such resource."),
    "method-not-allowed": ("Method not allowed", "The resource does not accept that method."),
    "body-too-large": ("Request body too large", "The body is over MAX_BODY_BYTES."),
    "unauthorized": ("Unauthorized", "An API key is required."),
    "request-timeout": ("Request timed out", "The request took longer than REQUEST_TIMEOUT."),
    "http-error": ("HTTP error", "The request could not be served."),
    "internal-error": ("Internal error", "An unexpected failure; the request id names it."),
}


_RESPONSE_TEXT = {
    400: "Malformed JSON body.",
    401: "API key missing or wrong (when auth is on).",
    404: "Unknown model or version.",
    413: "Body over MAX_BODY_BYTES.",
    422: "Refused unit, dimension, shape, value or body.",
    503: "Model not ready.",
    504: "Request over REQUEST_TIMEOUT.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem+json bodies for these statuses."""
    from service.rest.native.schemas import Problem

    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {
        status: {
            "model": Problem,
            "description": _RESPONSE_TEXT.get(status, "Problem details."),
            "content": {PROBLEM_MEDIA_TYPE: schema},
        }
        for status in statuses
    }


def status_for(exc: errors.ServiceError) -> int:
    """The HTTP status of a domain error (500 when the table has no row for it)."""
    for cls, status in PROBLEM_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem_response(
    scope: Scope, status: int, kind: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    """One problem+json response: the only place native error bodies are built."""
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", ""),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


class ProblemShaper:
    """The native protocol's errors: RFC 9457 problem details (see ``ErrorShaper``)."""

    def error(self, exc: Exception, scope: Scope) -> Response:
        """A domain error by the status table, a body that breaks the schema as 400/422,
        an HTTP error by its status, anything else as a logged 500."""
        if isinstance(exc, errors.ServiceError):
            return _service_error(scope, exc)
        if isinstance(exc, RequestValidationError):
            return _validation_error(scope, exc)
        if isinstance(exc, StarletteHTTPException):
            return _http_error(scope, exc)
        return _unexpected(scope, exc)

    def refusal(self, scope: Scope, refusal: Refusal) -> Response:
        """A refusal of the operations layer, as a problem with its kind and fields."""
        response = problem_response(
            scope, refusal.status, refusal.kind, refusal.title, refusal.detail, **refusal.extra
        )
        response.headers.update(refusal.headers)
        return response


PROBLEMS = ProblemShaper()


class ProblemRoute(DoorRoute):
    """A route of the native protocol (``/predict``, ``/v1/...``, health, problem pages)."""

    shaper = PROBLEMS


class ProblemDoor:
    """What every door of the native protocol shares: it owns the paths no other door
    claims, answers errors as problem details, and works over the one data plane."""

    prefix = ""
    shaper = PROBLEMS
    documented: tuple[type[BaseModel], ...] = ()

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane


def _service_error(scope: Scope, exc: errors.ServiceError) -> Response:
    status = status_for(exc)
    log.info("problem %s: %s", exc.kind, exc.message)
    response = problem_response(scope, status, exc.kind, exc.title, exc.message, **exc.details)
    if isinstance(exc, errors.OverloadedError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _validation_error(scope: Scope, exc: RequestValidationError) -> Response:
    problems = [_clean(e) for e in exc.errors()]
    if any(p["type"] == "json_invalid" for p in problems):
        first = problems[0]
        return problem_response(
            scope,
            400,
            "malformed-json",
            HTTP_KINDS["malformed-json"][0],
            f"the body is not valid JSON: {first['msg']} at {first['loc']}",
            errors=problems,
        )
    summary = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5])
    return problem_response(
        scope,
        422,
        "invalid-body",
        HTTP_KINDS["invalid-body"][0],
        f"the body does not match the expected schema: {summary}",
        errors=problems,
    )


def _clean(error: Any) -> dict[str, Any]:
    """A validation error without the echoed input (it may be huge or sensitive)."""
    loc = ".".join(str(p) for p in error.get("loc", ()))
    return {"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}


def _http_error(scope: Scope, exc: StarletteHTTPException) -> Response:
    kind = {
        400: "malformed-json",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
    }.get(exc.status_code, "http-error")
    response = problem_response(scope, exc.status_code, kind, HTTP_KINDS[kind][0], str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unexpected(scope: Scope, exc: Exception) -> Response:
    request_id = scope.get("state", {}).get("request_id")
    log.error("unhandled error serving %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
    return problem_response(
        scope,
        500,
        "internal-error",
        HTTP_KINDS["internal-error"][0],
        "the server failed to handle this request; it has been logged",
        request_id=request_id,
    )


def describe_kind(kind: str) -> dict[str, Any] | None:
    """What ``GET /problems/<kind>`` answers: title, status and meaning of a kind."""
    for cls in _domain_classes(errors.ServiceError):
        if cls.kind == kind:
            doc = (cls.__doc__ or cls.title).strip().splitlines()[0]
            return {
                "type": f"/problems/{kind}",
                "title": cls.title,
                "status": _status_of_class(cls),
                "description": doc,
            }
    if kind in HTTP_KINDS:
        title, doc = HTTP_KINDS[kind]
        return {"type": f"/problems/{kind}", "title": title, "description": doc}
    return None


def _domain_classes(root: type[errors.ServiceError]) -> list[type[errors.ServiceError]]:
    out = [root]
    for sub in root.__subclasses__():
        out.extend(_domain_classes(sub))
    return out


def _status_of_class(cls: type[errors.ServiceError]) -> int:
    for base, status in PROBLEM_STATUS:
        if issubclass(cls, base):
            return status
    return 500
