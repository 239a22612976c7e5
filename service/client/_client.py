"""``Client`` and ``AsyncClient``: the same methods, blocking and async, over one pooled
httpx client each. Both drive the flows of ``service.client._calls``; this module only moves
bytes (with the safe retries of ``service.client._transport``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from service.client._calls import Call, Calls, Flow, Prediction, Protocol
from service.client._models import ModelInfo, UnitInfo
from service.client._transport import (
    Retries,
    base_url,
    failed,
    headers_for,
    refusal,
    request_args,
)

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
Returns = Literal["dimarray", "pint"] | None
Outputs = Mapping[str, Any] | Sequence[str] | None


def _registry(returns: Any) -> Any:
    """None for DimArrays; a pint registry for "pint" (the application's) or as given."""
    if returns is None or returns == "dimarray":
        return None
    if returns == "pint":
        import pint  # an optional dependency: imported only when asked for

        return pint.get_application_registry()  # type: ignore[no-untyped-call]
    if hasattr(returns, "Quantity") and hasattr(returns, "parse_units"):
        return returns
    raise ValueError(f"returns must be 'dimarray', 'pint' or a pint registry, not {returns!r}")


class _Base:
    """Settings shared by both clients."""

    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        protocol: Protocol,
        timeout: float | httpx.Timeout,
        retries: int | Retries,
        returns: Any,
    ) -> None:
        self.url = base_url(url)
        self.calls = Calls(protocol)
        self.returns = _registry(returns)
        self.retries = retries if isinstance(retries, Retries) else Retries(attempts=retries)
        self._options: dict[str, Any] = {
            "base_url": self.url,
            "headers": headers_for(api_key),
            "timeout": timeout,
        }

    @property
    def protocol(self) -> Protocol:
        return self.calls.protocol

    def _returns(self, returns: Returns) -> Any:
        """The registry of one call: its own `returns`, else the client's."""
        return self.returns if returns is None else _registry(returns)


class Client(_Base):
    """A blocking client of a dimtensor-serve server: quantities in, quantities out.

    Args:
        url: the server, e.g. ``"http://localhost:8080"`` (default: ``$DIMTENSOR_SERVE_URL``,
            else localhost:8080); a path prefix (behind a gateway) is kept.
        api_key: sent as ``Authorization: Bearer`` (default: ``$DIMTENSOR_SERVE_API_KEY``).
        protocol: ``"native"`` (``/predict``, problem details on errors) or ``"oip"``
            (``/v2/models/.../infer`` with ``parameters.unit``, binary tensors when smaller).
        timeout: seconds (or an ``httpx.Timeout``) for each request.
        retries: how many times a request that is safe to repeat is retried (or a
            ``Retries``): a connection never made, or a GET that broke.
        returns: outputs as ``"dimarray"`` (default), ``"pint"`` (the application
            registry) or a given pint ``UnitRegistry``.
        transport: an httpx transport (tests, proxies, unix sockets).

    One connection pool per client: make one and reuse it; close it (or use ``with``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        protocol: Protocol = "native",
        timeout: float | httpx.Timeout = 30.0,
        retries: int | Retries = 2,
        returns: Any = "dimarray",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, protocol, timeout, retries, returns)
        self._http = httpx.Client(transport=transport, **self._options)

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        outputs: Outputs = None,
        version: str | int | None = None,
        *,
        returns: Returns = None,
    ) -> Prediction:
        """Run `model` on `inputs` and return its outputs as quantities.

        Args:
            model: the model's name.
            inputs: name -> a dimtensor ``DimArray``, a pint ``Quantity`` or a ``(value,
                unit)`` pair (unit text, a dimtensor ``Unit`` or a pint ``Unit``), in any
                unit of the right dimension; a single row broadcasts against batches.
            outputs: name -> the unit wanted (text, dimtensor ``Unit`` or pint ``Unit``;
                None: the model's), or a list of names; omitted: every output in the
                model's units.
            version: a version of the model; omitted: the server's default.
            returns: override the client's ``returns`` for this call.

        Returns:
            A ``Prediction``: a mapping of output name to ``DimArray`` (or pint
            ``Quantity``), each in the unit asked for, its dimension checked against the
            model's declared signature; ``.model`` and ``.version`` say who answered.

        Raises:
            ServerError: the server refused (a subclass per problem kind, e.g.
                ``DimensionMismatchError`` with ``.input``, ``.expected_unit``...).
            OutputDimensionError: an output is not of the declared dimension.
            TransportError: no answer (after the safe retries).
            TypeError: an input without a unit.
        """
        return self._run(
            self.calls.predict(model, inputs, outputs, version, self._returns(returns))
        )

    def models(self) -> list[ModelInfo]:
        """Every model, each version's state and signature (units, dimensions, shapes)."""
        return self._run(self.calls.models())

    def model(self, name: str) -> ModelInfo:
        """One model's versions, states and signatures."""
        return self._run(self.calls.model(name))

    def parse_unit(self, expr: str) -> UnitInfo:
        """How the server reads a unit expression (dimension, SI scale and offset)."""
        return self._run(self.calls.parse_unit(expr))

    def convert(self, value: Any, source: str, target: str, *, returns: Returns = None) -> Any:
        """`value` (a number or nested list) in unit `source`, converted by the server to
        `target` (absolute temperatures with their offsets), as a DimArray or Quantity."""
        return self._run(self.calls.convert(value, source, target, self._returns(returns)))

    def ready(self) -> bool:
        """Whether the server is ready (models loaded, not draining)."""
        return self._run(self.calls.ready())

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                call = flow.send(self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result

    def _send(self, call: Call) -> httpx.Response:
        retry = 0
        while True:
            try:
                response = self._http.request(**request_args(call))
                break
            except httpx.TransportError as exc:
                pause = self.retries.delay(retry) if Retries.safe(call.method, exc) else None
                if pause is None:
                    raise failed(exc, call) from exc
                time.sleep(pause)
                retry += 1
        if response.status_code not in call.answers:
            raise refusal(response)
        return response


class AsyncClient(_Base):
    """The async form of ``Client``: the same arguments and methods, awaited.

    ``async with AsyncClient(url) as client: prediction = await client.predict(...)``
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        protocol: Protocol = "native",
        timeout: float | httpx.Timeout = 30.0,
        retries: int | Retries = 2,
        returns: Any = "dimarray",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, protocol, timeout, retries, returns)
        self._http = httpx.AsyncClient(transport=transport, **self._options)

    async def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        outputs: Outputs = None,
        version: str | int | None = None,
        *,
        returns: Returns = None,
    ) -> Prediction:
        """See ``Client.predict``."""
        flow = self.calls.predict(model, inputs, outputs, version, self._returns(returns))
        return await self._run(flow)

    async def models(self) -> list[ModelInfo]:
        """See ``Client.models``."""
        return await self._run(self.calls.models())

    async def model(self, name: str) -> ModelInfo:
        """See ``Client.model``."""
        return await self._run(self.calls.model(name))

    async def parse_unit(self, expr: str) -> UnitInfo:
        """See ``Client.parse_unit``."""
        return await self._run(self.calls.parse_unit(expr))

    async def convert(
        self, value: Any, source: str, target: str, *, returns: Returns = None
    ) -> Any:
        """See ``Client.convert``."""
        return await self._run(self.calls.convert(value, source, target, self._returns(returns)))

    async def ready(self) -> bool:
        """See ``Client.ready``."""
        return await self._run(self.calls.ready())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                call = flow.send(await self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result

    async def _send(self, call: Call) -> httpx.Response:
        retry = 0
        while True:
            try:
                response = await self._http.request(**request_args(call))
                break
            except httpx.TransportError as exc:
                pause = self.retries.delay(retry) if Retries.safe(call.method, exc) else None
                if pause is None:
                    raise failed(exc, call) from exc
                await asyncio.sleep(pause)
                retry += 1
        if response.status_code not in call.answers:
            raise refusal(response)
        return response
