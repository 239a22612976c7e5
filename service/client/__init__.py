"""A Python client for dimtensor-serve: quantities in, quantities out.

    from dimtensor import DimArray, units
    from service.client import Client

    with Client("http://localhost:8080") as client:
        answer = client.predict(
            "projectile",
            {"speed": DimArray([72.0, 90.0], units.km / units.hour),
             "angle": (45, "deg"),                     # a (value, unit) pair
             "g": DimArray(9.81, units.m / units.s**2)},
            outputs={"range": "km"},
        )
    answer["range"]                                    # DimArray in km

Each input is a dimtensor ``DimArray``, a pint ``Quantity`` or a ``(value, unit)`` pair in
any unit of the right dimension; each output comes back as a ``DimArray`` (or a pint
``Quantity``) in the unit asked for, its dimension checked against the signature the
server declares. ``AsyncClient`` has the same methods, awaited. ``protocol="oip"`` speaks
the Open Inference Protocol (units in ``parameters.unit``; large inputs go as binary
tensors when that is smaller). Refusals raise the ``ServerError`` subclass of their
problem kind (``DimensionMismatchError``, ...), each also an instance of the server's own
domain error class in ``service.errors``.

Importing this package imports no FastAPI, Starlette, pydantic, uvicorn, gunicorn nor
torch of its own: only httpx, numpy, orjson and dimtensor (which imports torch itself
when torch is installed; tests/test_imports.py holds this).
"""

from __future__ import annotations

from service.client._calls import Prediction
from service.client._client import AsyncClient, Client
from service.client._errors import (
    AmbiguousUnitError,
    AnswerError,
    AuthenticationError,
    BodyTooLargeError,
    ClientError,
    ClientTimeoutError,
    ConnectError,
    DimensionMismatchError,
    IncompatibleUnitsError,
    InputError,
    InternalServerError,
    InvalidRequestError,
    InvalidTensorError,
    LimitExceededError,
    LogarithmicUnitError,
    ManifestError,
    MethodNotAllowedError,
    MissingInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    NonFiniteError,
    NotFoundError,
    OffsetUnitError,
    OutputDimensionError,
    OutsideDomainError,
    OverloadedError,
    ServerError,
    ServerTimeoutError,
    ShapeError,
    TransportError,
    UnexpectedInputError,
    UnitError,
    UnitLimitError,
    UnitSyntaxError,
    UnknownUnitError,
)
from service.client._models import ModelInfo, ModelVersion, TensorSpec, UnitInfo
from service.client._transport import Retries

__all__ = [
    "AmbiguousUnitError",
    "AnswerError",
    "AsyncClient",
    "AuthenticationError",
    "BodyTooLargeError",
    "Client",
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
    "ModelInfo",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "ModelVersion",
    "NonFiniteError",
    "NotFoundError",
    "OffsetUnitError",
    "OutputDimensionError",
    "OutsideDomainError",
    "OverloadedError",
    "Prediction",
    "Retries",
    "ServerError",
    "ServerTimeoutError",
    "ShapeError",
    "TensorSpec",
    "TransportError",
    "UnexpectedInputError",
    "UnitError",
    "UnitInfo",
    "UnitLimitError",
    "UnitSyntaxError",
    "UnknownUnitError",
]
