"""Domain errors: what can go wrong between a client's payload and a model's answer.

Every error names what was wrong, what was expected and what was received, so the
doors (native REST, OIP v2, batch) only translate; they never compose messages.
Nothing here knows about HTTP: ``service.rest.problems`` maps each ``kind`` to a status.

    ServiceError                       base; ``kind`` is a stable machine-readable slug
    ├── UnitError (ValueError)         a unit expression the grammar refuses
    │   ├── UnitSyntaxError            malformed text, trailing garbage, empty text
    │   ├── UnknownUnitError           a symbol not in the table (with suggestions)
    │   ├── AmbiguousUnitError         a symbol with several readings
    │   ├── UnitLimitError             text, exponent or nesting over a cap
    │   ├── OffsetUnitError            degC/degF inside a compound expression
    │   └── LogarithmicUnitError       dB, Np: a level, not a multiple of a unit
    ├── IncompatibleUnitsError (ValueError)   conversion between different dimensions
    ├── InputError (ValueError)        a payload that does not fit the model's signature
    │   ├── DimensionMismatchError     an input's unit has the wrong dimension
    │   ├── ShapeError                 wrong per-row shape, ragged lists, batch mismatch
    │   ├── NonFiniteError             NaN or infinity in the values
    │   ├── MissingInputError          a declared input is absent
    │   ├── UnexpectedInputError       an input or output name the model does not declare
    │   ├── LimitExceededError         too many rows or values
    │   └── OutsideDomainError         a value outside the model's validity domain (refuse)
    ├── ModelNotFoundError (LookupError)      unknown model or version
    ├── ModelNotReadyError             known, but failed to load or still loading
    ├── OverloadedError                the model's batching queue is full (retry later)
    └── ManifestError (ValueError)     a model.yaml or weights file the server refuses
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousUnitError",
    "DimensionMismatchError",
    "IncompatibleUnitsError",
    "InputError",
    "LimitExceededError",
    "LogarithmicUnitError",
    "ManifestError",
    "MissingInputError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "NonFiniteError",
    "OffsetUnitError",
    "OutsideDomainError",
    "OverloadedError",
    "ServiceError",
    "ShapeError",
    "UnexpectedInputError",
    "UnitError",
    "UnitLimitError",
    "UnitSyntaxError",
    "UnknownUnitError",
]


class ServiceError(Exception):
    """Base of every domain error.

    Attributes:
        kind: stable slug used as the problem ``type`` suffix and as a metrics label.
        title: short human summary of the kind.
        message: the full sentence: what was wrong, expected and received.
        details: structured, JSON-safe fields (input name, expected unit, ...).
    """

    kind = "service-error"
    title = "Service error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable across process pools (batch workers).
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[ServiceError], message: str, details: dict[str, Any]) -> ServiceError:
    err = cls.__new__(cls)
    ServiceError.__init__(err, message, **details)
    return err


class UnitError(ServiceError, ValueError):
    kind = "unit-error"
    title = "Invalid unit expression"


class UnitSyntaxError(UnitError):
    kind = "unit-syntax"
    title = "Malformed unit expression"


class UnknownUnitError(UnitError):
    kind = "unknown-unit"
    title = "Unknown unit symbol"


class AmbiguousUnitError(UnitError):
    kind = "ambiguous-unit"
    title = "Ambiguous unit symbol"


class UnitLimitError(UnitError):
    kind = "unit-limit"
    title = "Unit expression over a limit"


class OffsetUnitError(UnitError):
    kind = "offset-unit"
    title = "Offset unit in a compound expression"


class LogarithmicUnitError(UnitError):
    """A logarithmic unit (dB, Np): it names a level, which no scale factor converts."""

    kind = "logarithmic-unit"
    title = "Logarithmic unit refused"


class IncompatibleUnitsError(ServiceError, ValueError):
    kind = "incompatible-units"
    title = "Units of different dimensions"


class InputError(ServiceError, ValueError):
    kind = "invalid-input"
    title = "Invalid input"


class DimensionMismatchError(InputError):
    kind = "dimension-mismatch"
    title = "Dimension mismatch"


class ShapeError(InputError):
    kind = "bad-shape"
    title = "Bad shape"


class NonFiniteError(InputError):
    kind = "non-finite"
    title = "Non-finite value"


class MissingInputError(InputError):
    kind = "missing-input"
    title = "Missing input"


class UnexpectedInputError(InputError):
    kind = "unexpected-name"
    title = "Unexpected input or output name"


class LimitExceededError(InputError):
    kind = "limit-exceeded"
    title = "Request over a limit"


class OutsideDomainError(InputError):
    """A value outside the validity domain the model declares (``DOMAIN_POLICY=refuse``)."""

    kind = "outside-domain"
    title = "Outside the model's validity domain"


class ModelNotFoundError(ServiceError, LookupError):
    kind = "model-not-found"
    title = "Model not found"


class ModelNotReadyError(ServiceError):
    kind = "model-not-ready"
    title = "Model not ready"


class OverloadedError(ServiceError):
    """The model's queue is full: retry after ``retry_after`` seconds (503 + Retry-After)."""

    kind = "overloaded"
    title = "Server overloaded"

    @property
    def retry_after(self) -> int:
        return int(self.details.get("retry_after", 1))


class ManifestError(ServiceError, ValueError):
    kind = "manifest-error"
    title = "Invalid model manifest"
