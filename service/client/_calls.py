"""What each client method asks the server and how it reads the answers, without I/O.

Every method is a generator (a "flow") that yields the HTTP calls it needs and receives
their responses; ``Client`` drives it with blocking httpx and ``AsyncClient`` with async
httpx. So the two clients cannot drift apart: they share every request, every check and
every reading of an answer, and differ only in how bytes move.

A prediction is at most three calls: the model's signature (once per model and version
for the life of the client: it is what each output's dimension is checked against), the
prediction, and the signature of the version that answered if that one is new.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from service.client._errors import AnswerError, OutputDimensionError
from service.client._models import (
    ModelInfo,
    ModelVersion,
    UnitInfo,
    read_model,
    read_oip_metadata,
    read_unit,
)
from service.client._quantities import FloatArray, Wanted, encode_input, from_answer, wanted_output
from service.client._wire import (
    Answer,
    convert_body,
    infer_body,
    predict_body,
    read_infer,
    read_predict,
)
from service.errors import UnitError
from service.units import conversion, parse_unit, same_dimension

__all__ = ["Call", "Calls", "Flow", "Prediction", "Protocol"]

T = TypeVar("T")
Protocol = Literal["native", "oip"]
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Call:
    """One HTTP request of a flow; `answers` are the statuses that are answers (any other
    is a refusal, raised as the matching ``ServerError``)."""

    method: str
    path: str
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    answers: frozenset[int] = frozenset({200})


Flow = Generator[Call, httpx.Response, T]


@dataclass(frozen=True)
class Prediction(Mapping[str, Any]):
    """A model's answer: a mapping from output name to a DimArray (or pint Quantity).

    Attributes:
        model, version: who answered.
        outputs: the outputs by name (the mapping itself).
        extras: answer fields this client does not know (a newer server's), kept as sent.
        output_extras: the same per output.
        outside_domain: the rows outside the model's validity domain, by input.
    """

    model: str
    version: str
    outputs: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    output_extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def outside_domain(self) -> dict[str, list[int]]:
        """Rows outside the model's validity domain, by input; empty when every row is inside.
        Native answers carry it as a field, OIP answers as the ``outside_domain`` response
        parameter (JSON text, as parameters hold only strings, numbers and booleans)."""
        found = self.extras.get("outside_domain")
        if found is None:
            text = (self.extras.get("parameters") or {}).get("outside_domain")
            found = json.loads(text) if isinstance(text, str) else {}
        return {str(name): [int(row) for row in rows] for name, rows in found.items()}

    def __getitem__(self, name: str) -> Any:
        return self.outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)


class Calls:
    """The flows of one client: its protocol and its signature cache. `returns`, where a
    flow takes it, is None for DimArrays or the pint registry to build quantities with."""

    def __init__(self, protocol: Protocol) -> None:
        if protocol not in ("native", "oip"):
            raise ValueError(f"protocol must be 'native' or 'oip', received {protocol!r}")
        self.protocol = protocol
        self._signatures: dict[tuple[str, str | None], ModelVersion] = {}

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any] | Sequence[str] | None,
        version: str | int | None,
        returns: Any,
    ) -> Flow[Prediction]:
        """Inputs in any units in, outputs in the units asked for out (see ``Client``)."""
        version = None if version is None else str(version)
        sent = {name: encode_input(name, value) for name, value in inputs.items()}
        wanted = _wanted(outputs)
        texts = None if wanted is None else {n: w.text for n, w in wanted.items()}
        signature = yield from self._signature(model, version)
        if self.protocol == "native":
            body = predict_body(model, version, sent, texts)
            response = yield Call("POST", "/predict", body, _JSON)
            answer, one_row = read_predict(_json(response)), False
        else:
            sent, one_row = _rows(sent, signature)
            body, headers = infer_body(sent, texts)
            response = yield Call("POST", _oip_path(model, version) + "/infer", body, headers)
            answer = read_infer(response.content, response.headers)
        if signature is None or signature.version != answer.version:
            signature = yield from self._signature(model, answer.version)
        if signature is None:
            raise AnswerError(f"{model!r} answered as version {answer.version!r}, unlisted")
        return self._prediction(answer, signature, wanted, one_row, returns)

    def models(self) -> Flow[list[ModelInfo]]:
        """``GET /v1/models``: every model with each version's signature."""
        response = yield Call("GET", "/v1/models")
        doc = _json(response)
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
            raise AnswerError(f"not a model list: {str(doc)[:200]}")
        return [read_model(m) for m in doc["models"]]

    def model(self, name: str) -> Flow[ModelInfo]:
        """``GET /v1/models/{name}``: one model's versions, states and signatures."""
        response = yield Call("GET", f"/v1/models/{quote(name, safe='')}")
        info = read_model(_json(response))
        self._remember(info)
        return info

    def parse_unit(self, expr: str) -> Flow[UnitInfo]:
        """``GET /v1/units/parse?expr=...``."""
        response = yield Call("GET", "/v1/units/parse", params={"expr": expr})
        return read_unit(_json(response))

    def convert(self, value: Any, source: str, target: str, returns: Any) -> Flow[Any]:
        """``POST /v1/units/convert``: `value` (a number or nested list) from one unit to
        another, as a DimArray (or pint Quantity) in `target`."""
        values = np.asarray(value, dtype=np.float64)
        body = convert_body(values, source, target)
        response = yield Call("POST", "/v1/units/convert", body, _JSON)
        doc = _json(response)
        try:
            answered = np.asarray(doc["value"], dtype=np.float64), parse_unit(str(doc["unit"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnswerError(f"not a conversion answer: {exc!r} in {str(doc)[:200]}") from None
        return from_answer(*answered, Wanted(None), returns)

    def ready(self) -> Flow[bool]:
        """``GET /readyz`` (native) or ``GET /v2/health/ready`` (OIP): 200 or 503."""
        path = "/readyz" if self.protocol == "native" else "/v2/health/ready"
        response = yield Call("GET", path, answers=frozenset({200, 503}))
        return response.status_code == 200

    def _signature(self, model: str, version: str | None) -> Flow[ModelVersion | None]:
        """The signature of (model, version), from the cache or the server."""
        key = (model, version)
        if key not in self._signatures:
            if self.protocol == "native":
                self._remember(read_model(_json((yield Call("GET", f"/v1/models/{_q(model)}")))))
            else:
                doc = _json((yield Call("GET", _oip_path(model, version))))
                self._signatures[key] = read_oip_metadata(doc, version or "")
        return self._signatures.get(key)

    def _remember(self, info: ModelInfo) -> None:
        for v in info.versions:
            if v.state == "ready":
                self._signatures[info.name, v.version] = v
        default = info.version(None)
        if default is not None and default.state == "ready":
            self._signatures[info.name, None] = default

    def _prediction(
        self,
        answer: Answer,
        signature: ModelVersion,
        wanted: dict[str, Wanted] | None,
        one_row: bool,
        returns: Any,
    ) -> Prediction:
        """The answer checked against the signature, as the user's quantities; `one_row`:
        drop the batch axis OIP answers always carry (the request had no batch)."""
        outputs, extras = {}, {}
        for name, raw in answer.outputs.items():
            if wanted is not None and name not in wanted:
                continue  # the native protocol answers every output
            want = Wanted(None) if wanted is None else wanted[name]
            values, unit = _checked(name, raw.values, raw.unit, want.text, signature)
            outputs[name] = from_answer(values[0] if one_row else values, unit, want, returns)
            if raw.extras:
                extras[name] = raw.extras
        return Prediction(answer.model, answer.version, outputs, answer.extras, extras)


def _checked(
    name: str, values: FloatArray, text: str, asked: str | None, signature: ModelVersion
) -> tuple[FloatArray, Any]:
    """An output's values and unit, after checking its dimension against the signature
    (and converting into the unit asked for, should the server have answered another)."""
    declared = signature.output(name)
    if declared is None:
        raise AnswerError(f"output {name!r} is not in the signature of {signature.name!r}")
    try:
        unit = parse_unit(text)
    except UnitError as exc:
        raise AnswerError(f"output {name!r}: unit {text!r} does not parse: {exc}") from None
    expected = declared.parsed
    if not same_dimension(unit.dimension, expected.dimension):
        raise OutputDimensionError(
            f"output {name!r} came back in {text!r} ({unit.dimension_name}); the model "
            f"declares {declared.unit!r} ({expected.dimension_name})"
        )
    if asked is not None and text != asked:
        target = parse_unit(asked)
        factor, shift = conversion(unit, target)
        return values * factor + shift, target
    return values, unit


def _wanted(outputs: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Wanted] | None:
    if outputs is None:
        return None
    if isinstance(outputs, str):
        raise TypeError("outputs must be a mapping of name to unit, or a list of names")
    if isinstance(outputs, Mapping):
        return {name: wanted_output(name, unit) for name, unit in outputs.items()}
    return {name: Wanted(None) for name in outputs}


def _rows(
    sent: dict[str, tuple[FloatArray, str]], signature: ModelVersion | None
) -> tuple[dict[str, tuple[FloatArray, str]], bool]:
    """OIP has no unbatched tensor (the first axis is the batch): single rows are repeated
    to the batch's length, as the native protocol broadcasts them, and whether any input
    was a batch says whether the answers keep their batch axis (True: they do not)."""

    def row_shape(name: str) -> tuple[int, ...]:
        spec = None if signature is None else signature.input(name)
        return () if spec is None else spec.shape

    rows = {
        n: v.shape[0]
        for n, (v, _) in sent.items()
        if v.ndim == len(row_shape(n)) + 1 and v.shape[1:] == row_shape(n)
    }
    if not rows:
        return sent, True
    count = max(rows.values())
    out = {
        n: (np.broadcast_to(v, (count, *v.shape)) if v.shape == row_shape(n) else v, u)
        for n, (v, u) in sent.items()
    }
    return out, False


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise AnswerError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON: {response.text[:200]!r}"
        ) from None


def _q(name: str) -> str:
    return quote(name, safe="")


def _oip_path(model: str, version: str | None) -> str:
    path = f"/v2/models/{_q(model)}"
    return path if version is None else f"{path}/versions/{_q(version)}"
