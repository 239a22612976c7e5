"""What the client raises: the server's refusals as exceptions, and its own failures.

A refusal keeps everything the server said (status, problem ``kind``, ``detail``, the
structured fields such as ``input``, ``expected_unit``, ``received_dimension``) and is an
instance of the server's own domain error of that kind, so one ``except`` clause holds for
a model run in process and for one behind HTTP::

    except service.errors.DimensionMismatchError as exc:   # also catches the remote one
        print(exc.input, exc.expected_unit, exc.received_unit)

    ClientError                              everything this client raises
    ├── TransportError (ConnectionError)     no answer came back
    │   ├── ConnectError                     could not connect; the request was not sent
    │   └── ClientTimeoutError (TimeoutError) no answer within the client's timeout
    ├── AnswerError (ValueError)             an answer the client cannot read
    │   └── OutputDimensionError             an output's unit is not of the declared dimension
    └── ServerError                          the server refused; one subclass per problem kind
        ├── UnitError (errors.UnitError)     unit-error, and one per grammar refusal:
        │   └── UnitSyntaxError, UnknownUnitError, AmbiguousUnitError, UnitLimitError,
        │       OffsetUnitError, LogarithmicUnitError
        ├── IncompatibleUnitsError           incompatible-units
        ├── InputError (errors.InputError)   invalid-input, and one per input refusal:
        │   └── DimensionMismatchError, ShapeError, NonFiniteError, MissingInputError,
        │       UnexpectedInputError, LimitExceededError, OutsideDomainError,
        │       InvalidTensorError
        ├── ModelNotFoundError (LookupError) model-not-found
        ├── ModelNotReadyError, OverloadedError (retry_after), ManifestError
        ├── InvalidRequestError              malformed-json, invalid-body (a client bug)
        ├── AuthenticationError (PermissionError)  unauthorized
        ├── BodyTooLargeError                body-too-large (MAX_BODY_BYTES)
        ├── ServerTimeoutError (TimeoutError) request-timeout (REQUEST_TIMEOUT)
        ├── NotFoundError (LookupError), MethodNotAllowedError   not-found, method-not-allowed
        └── InternalServerError              internal-error (the request id names it)

The Open Inference Protocol answers ``{"error": "..."}`` without a kind: there the class
follows the status alone (400 ``InputError``, 404 ``ModelNotFoundError``, 503
``ModelNotReadyError`` or, with Retry-After, ``OverloadedError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service import errors

__all__ = [
    "AmbiguousUnitError",
    "AnswerError",
    "AuthenticationError",
    "BodyTooLargeError",
    "ClientError",
    "ClientTimeoutError",
    "ConnectError",
    "DimensionMismatchError",
    "IncompatibleUnitsError",
    "InputError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidTensorError",
    "LimitExceededError",
    "LogarithmicUnitError",
    "ManifestError",
    "MethodNotAllowedError",
    "MissingInputError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "NonFiniteError",
    "NotFoundError",
    "OffsetUnitError",
    "OutputDimensionError",
    "OutsideDomainError",
    "OverloadedError",
    "ServerError",
    "ServerTimeoutError",
    "ShapeError",
    "TransportError",
    "UnexpectedInputError",
    "UnitError",
    "UnitLimitError",
    "UnitSyntaxError",
    "UnknownUnitError",
    "error_class",
    "server_error",
]

_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


class ClientError(Exception):
    """Base of everything the client raises (its own failures and the server's refusals)."""


class TransportError(ClientError, ConnectionError):
    """No answer came back (after the retries that were safe to make)."""


class ConnectError(TransportError):
    """The server could not be reached: nothing was sent."""


class ClientTimeoutError(TransportError, TimeoutError):
    """The server did not answer within the client's ``timeout``."""


class AnswerError(ClientError, ValueError):
    """An answer the client cannot read (not the protocol's shape, sizes that disagree)."""


class OutputDimensionError(AnswerError):
    """An output came back in a unit whose dimension is not the one the model declares:
    the one thing a unit-aware client must never hand on silently."""


class ServerError(ClientError):
    """The server refused the request.

    Attributes:
        status: the HTTP status.
        kind: the problem kind (``dimension-mismatch``, ...); for OIP, the status's kind.
        title: the kind's short summary.
        detail: the server's sentence: what was wrong, expected and received.
        problem: the whole problem document as received (OIP: ``{"error": ...}``).
        details: the structured members (``input``, ``expected_unit``, ...), which the
            properties below read.
        request_id: the ``X-Request-ID`` the server logged this request under.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str = "",
        problem: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = self.message = detail
        self.problem: dict[str, Any] = dict(problem or {})
        self.details: dict[str, Any] = {
            k: v for k, v in self.problem.items() if k not in _PROBLEM_MEMBERS
        }
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.request_id = self.headers.get("x-request-id")

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self) -> tuple[Any, ...]:
        # The server's classes pickle through their own (message, details): keep ours whole.
        state = (self.status, self.kind, self.detail, self.title, self.problem, self.headers)
        return (_rebuild, (type(self), *state))

    @property
    def input(self) -> str | None:
        """The input the refusal is about, when it is about one."""
        return self._text("input")

    @property
    def output(self) -> str | None:
        """The output the refusal is about, when it is about one."""
        return self._text("output")

    @property
    def expected_unit(self) -> str | None:
        return self._text("expected_unit")

    @property
    def expected_dimension(self) -> str | None:
        return self._text("expected_dimension")

    @property
    def received_unit(self) -> str | None:
        return self._text("received_unit")

    @property
    def received_dimension(self) -> str | None:
        return self._text("received_dimension")

    def _text(self, key: str) -> str | None:
        value = self.details.get(key)
        return None if value is None else str(value)


def _rebuild(cls: type[ServerError], *args: Any) -> ServerError:
    status, kind, detail, title, problem, headers = args
    return cls(status, kind, detail, title=title, problem=problem, headers=headers)


class UnitError(ServerError, errors.UnitError):
    """unit-error: a unit expression the server's grammar refuses."""


class UnitSyntaxError(UnitError, errors.UnitSyntaxError):
    """unit-syntax"""


class UnknownUnitError(UnitError, errors.UnknownUnitError):
    """unknown-unit (``details['suggestions']`` when the server has some)"""


class AmbiguousUnitError(UnitError, errors.AmbiguousUnitError):
    """ambiguous-unit"""


class UnitLimitError(UnitError, errors.UnitLimitError):
    """unit-limit"""


class OffsetUnitError(UnitError, errors.OffsetUnitError):
    """offset-unit"""


class LogarithmicUnitError(UnitError, errors.LogarithmicUnitError):
    """logarithmic-unit: dB, Np name a level, which no scale factor converts."""


class IncompatibleUnitsError(ServerError, errors.IncompatibleUnitsError):
    """incompatible-units: a conversion between different dimensions."""


class InputError(ServerError, errors.InputError):
    """invalid-input: a payload that does not fit the model's signature."""


class DimensionMismatchError(InputError, errors.DimensionMismatchError):
    """dimension-mismatch"""


class ShapeError(InputError, errors.ShapeError):
    """bad-shape"""


class NonFiniteError(InputError, errors.NonFiniteError):
    """non-finite"""


class MissingInputError(InputError, errors.MissingInputError):
    """missing-input"""


class UnexpectedInputError(InputError, errors.UnexpectedInputError):
    """unexpected-name"""


class LimitExceededError(InputError, errors.LimitExceededError):
    """limit-exceeded (MAX_ROWS)"""


class OutsideDomainError(InputError, errors.OutsideDomainError):
    """outside-domain: a value outside the model's validity domain (DOMAIN_POLICY=refuse)."""


class InvalidTensorError(InputError):
    """invalid-tensor: an OIP tensor that breaks the protocol itself."""


class ModelNotFoundError(ServerError, errors.ModelNotFoundError):
    """model-not-found"""


class ModelNotReadyError(ServerError, errors.ModelNotReadyError):
    """model-not-ready: known, but failed to load or still loading."""


class OverloadedError(ServerError, errors.OverloadedError):
    """overloaded: the model's queue is full; retry after ``retry_after`` seconds."""

    @property
    def retry_after(self) -> int:
        text = self.headers.get("retry-after") or str(self.details.get("retry_after", 1))
        return int(text) if text.isdigit() else 1


class ManifestError(ServerError, errors.ManifestError):
    """manifest-error"""


class InvalidRequestError(ServerError, ValueError):
    """malformed-json, invalid-body: the body the client sent does not parse or fit."""


class AuthenticationError(ServerError, PermissionError):
    """unauthorized: the API key is missing or not one the server accepts."""


class BodyTooLargeError(ServerError):
    """body-too-large: the request is over the server's MAX_BODY_BYTES."""


class ServerTimeoutError(ServerError, TimeoutError):
    """request-timeout: the server gave up after its REQUEST_TIMEOUT."""


class NotFoundError(ServerError, LookupError):
    """not-found: no such path (a base URL with a wrong prefix)."""


class MethodNotAllowedError(ServerError):
    """method-not-allowed"""


class InternalServerError(ServerError):
    """internal-error: the server failed; ``request_id`` names it in the server's log."""


KINDS: dict[str, type[ServerError]] = {
    "unit-error": UnitError,
    "unit-syntax": UnitSyntaxError,
    "unknown-unit": UnknownUnitError,
    "ambiguous-unit": AmbiguousUnitError,
    "unit-limit": UnitLimitError,
    "offset-unit": OffsetUnitError,
    "logarithmic-unit": LogarithmicUnitError,
    "incompatible-units": IncompatibleUnitsError,
    "invalid-input": InputError,
    "dimension-mismatch": DimensionMismatchError,
    "bad-shape": ShapeError,
    "non-finite": NonFiniteError,
    "missing-input": MissingInputError,
    "unexpected-name": UnexpectedInputError,
    "limit-exceeded": LimitExceededError,
    "outside-domain": OutsideDomainError,
    "invalid-tensor": InvalidTensorError,
    "model-not-found": ModelNotFoundError,
    "model-not-ready": ModelNotReadyError,
    "overloaded": OverloadedError,
    "manifest-error": ManifestError,
    "malformed-json": InvalidRequestError,
    "invalid-body": InvalidRequestError,
    "unauthorized": AuthenticationError,
    "body-too-large": BodyTooLargeError,
    "request-timeout": ServerTimeoutError,
    "not-found": NotFoundError,
    "method-not-allowed": MethodNotAllowedError,
    "internal-error": InternalServerError,
    "http-error": ServerError,
    "service-error": ServerError,
}

# A kind this client does not know (a newer server), or an OIP error (no kind): by status.
STATUS_KINDS: dict[int, str] = {
    400: "invalid-input",
    401: "unauthorized",
    404: "model-not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    422: "invalid-input",
    500: "internal-error",
    503: "model-not-ready",
    504: "request-timeout",
}


def error_class(kind: str, status: int) -> type[ServerError]:
    """The class of a refusal: by its kind, else by its status, else ``ServerError``."""
    cls = KINDS.get(kind)
    if cls is None:
        cls = KINDS.get(STATUS_KINDS.get(status, ""), ServerError)
    return cls


def server_error(status: int, body: Any, headers: Mapping[str, str]) -> ServerError:
    """The exception for an error answer: a problem document (native), ``{"error"}``
    (OIP) or anything else a proxy in between may have answered."""
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        kind = body["type"].rsplit("/", 1)[-1]
        detail = str(body.get("detail") or body.get("title") or kind)
        cls = error_class(kind, status)
        title = str(body.get("title", ""))
        return cls(status, kind, detail, title=title, problem=body, headers=headers)
    kind = STATUS_KINDS.get(status, "http-error")
    if kind == "model-not-ready" and "retry-after" in {k.lower() for k in headers}:
        kind = "overloaded"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body["error"]
    else:
        detail = f"HTTP {status}: {str(body)[:200]}" if body else f"HTTP {status}"
    problem = body if isinstance(body, dict) else {}
    return error_class(kind, status)(status, kind, detail, problem=problem, headers=headers)
