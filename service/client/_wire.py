"""The two protocols' prediction bodies, built and read: native ``/predict`` and the Open
Inference Protocol's ``infer``, both carrying units (``parameters.unit`` in OIP).

Pure functions over bytes and arrays (no HTTP), so both clients share them. An OIP input
goes as the binary tensor data extension when its raw float64 bytes are shorter than its
JSON text (the usual case past a few values, and the difference between a body that fits
the server's MAX_BODY_BYTES and a 413); outputs are then asked for in binary as well.
Fields an answer carries that this client does not know (a newer server's) are kept in
``Answer.extras`` and ``RawOutput.extras``, never an error.

Answers come back as float64 arrays whatever the model computes in. An OIP output is read in
the datatype it declares, JSON or binary alike (as tritonclient does), then widened: an
``FP32`` output is the model's float32 value exactly, by either encoding. A native answer
has no datatype: its numbers (the shortest text of the model's float32 or float64 values)
are read as float64.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from service.client._errors import AnswerError
from service.client._quantities import FloatArray

__all__ = [
    "BINARY_HEADER",
    "Answer",
    "RawOutput",
    "convert_body",
    "infer_body",
    "predict_body",
    "read_infer",
    "read_predict",
]

BINARY_HEADER = "Inference-Header-Content-Length"
_NATIVE_OUTPUT_KEYS = frozenset({"value", "unit", "dimension"})
_OIP_OUTPUT_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
_OIP_PARAMETERS = frozenset({"unit", "dimension", "binary_data_size"})
_DTYPES = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}


@dataclass(frozen=True)
class RawOutput:
    """One output as answered: values, the unit text they are in, and unknown fields."""

    values: FloatArray
    unit: str
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A prediction answer in either protocol."""

    model: str
    version: str
    outputs: dict[str, RawOutput]
    extras: dict[str, Any] = field(default_factory=dict)


def _finite(values: FloatArray) -> bool:
    return bool(np.isfinite(values).all())


def _dumps(doc: Any, finite: bool) -> bytes:
    """orjson (arrays written straight from numpy) unless a value is NaN or infinite:
    orjson writes those as null, and the server must see them to refuse them by their
    own name (non-finite)."""
    if finite:
        return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(doc, default=lambda a: a.tolist()).encode()


def _json_value(values: FloatArray) -> Any:
    """A number for a 0-d array (an unbatched scalar), else the array for orjson."""
    return values.item() if values.ndim == 0 else np.ascontiguousarray(values)


def predict_body(
    model: str,
    version: str | None,
    inputs: Mapping[str, tuple[FloatArray, str]],
    outputs: Mapping[str, str | None] | None,
) -> bytes:
    """``POST /predict``: ``{"model", "version"?, "inputs": {NAME: {"value", "unit"}},
    "outputs"?: {NAME: unit}}`` (an output asked in the model's unit is not listed)."""
    doc: dict[str, Any] = {"model": model}
    if version is not None:
        doc["version"] = version
    doc["inputs"] = {n: {"value": _json_value(v), "unit": u} for n, (v, u) in inputs.items()}
    if outputs:
        wanted = {n: u for n, u in outputs.items() if u is not None}
        if wanted:
            doc["outputs"] = wanted
    return _dumps(doc, all(_finite(v) for v, _ in inputs.values()))


def convert_body(values: FloatArray, source: str, target: str) -> bytes:
    """``POST /v1/units/convert``: ``{"value", "from", "to"}``."""
    doc = {"value": _json_value(values), "from": source, "to": target}
    return _dumps(doc, _finite(values))


def read_predict(doc: Any) -> Answer:
    """The native answer: ``{"model", "version", "outputs": {NAME: {"value", "unit",
    "dimension"}}}`` plus whatever else a newer server adds."""
    try:
        outputs = {
            name: RawOutput(
                np.asarray(out["value"], dtype=np.float64),
                str(out["unit"]),
                {k: v for k, v in out.items() if k not in _NATIVE_OUTPUT_KEYS},
            )
            for name, out in doc["outputs"].items()
        }
        extras = {k: v for k, v in doc.items() if k not in {"model", "version", "outputs"}}
        return Answer(str(doc["model"]), str(doc["version"]), outputs, extras)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnswerError(f"not a /predict answer: {exc!r} in {str(doc)[:200]}") from None


def infer_body(
    inputs: Mapping[str, tuple[FloatArray, str]],
    outputs: Mapping[str, str | None] | None,
) -> tuple[bytes, dict[str, str]]:
    """An OIP infer request and its extra headers: each input in JSON or, when shorter,
    as binary tensor data; outputs in binary when any input went binary.

    ``{"inputs": [{"name", "shape", "datatype": "FP64", "parameters": {"unit"}, "data"}],
    "outputs"?: [{"name", "parameters"?: {"unit"}}], "parameters"?: {"binary_data_output"}}``
    """
    tensors, tail = [], []
    for name, (values, unit) in inputs.items():
        tensor: dict[str, Any] = {
            "name": name,
            "shape": list(values.shape) or [1],
            "datatype": "FP64",
            "parameters": {"unit": unit},
        }
        raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
        data = values.ravel().tolist()
        if len(raw) < len(orjson.dumps(data)):
            tensor["parameters"]["binary_data_size"] = len(raw)
            tail.append(raw)
        else:
            tensor["data"] = data
        tensors.append(tensor)
    doc: dict[str, Any] = {"inputs": tensors}
    if outputs:
        doc["outputs"] = [
            {"name": n, "parameters": {"unit": u}} if u is not None else {"name": n}
            for n, u in outputs.items()
        ]
    if not tail:
        finite = all(_finite(v) for v, _ in inputs.values())
        return _dumps(doc, finite), {"content-type": "application/json"}
    doc["parameters"] = {"binary_data_output": True}
    head = orjson.dumps(doc)
    headers = {"content-type": "application/octet-stream", BINARY_HEADER: str(len(head))}
    return head + b"".join(tail), headers


def read_infer(content: bytes, headers: Mapping[str, str]) -> Answer:
    """An OIP infer response, JSON or with binary outputs after the JSON part:
    ``{"model_name", "model_version", "outputs": [{"name", "shape", "datatype",
    "parameters": {"unit", "binary_data_size"?}, "data"?}]}``."""
    length = headers.get(BINARY_HEADER.lower()) or headers.get(BINARY_HEADER)
    split = int(length) if length is not None and length.isdigit() else len(content)
    try:
        doc = orjson.loads(content[:split])
        offset = split
        outputs = {}
        for out in doc["outputs"]:
            values, offset = _tensor_values(out, content, offset)
            params = out.get("parameters") or {}
            extras = {k: v for k, v in out.items() if k not in _OIP_OUTPUT_KEYS}
            extras.update({k: v for k, v in params.items() if k not in _OIP_PARAMETERS})
            outputs[str(out["name"])] = RawOutput(values, str(params["unit"]), extras)
        extras = {k: v for k, v in doc.items() if k not in {"model_name", "model_version", "id"}}
        extras.pop("outputs")
        return Answer(str(doc["model_name"]), str(doc.get("model_version", "")), outputs, extras)
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise AnswerError(f"not an OIP infer response: {exc!r}") from None


def _tensor_values(out: dict[str, Any], content: bytes, offset: int) -> tuple[FloatArray, int]:
    shape = [int(d) for d in out["shape"]]
    size = (out.get("parameters") or {}).get("binary_data_size")
    if size is None:
        declared = np.asarray(out["data"], dtype=_DTYPES.get(str(out.get("datatype")), "<f8"))
        return declared.astype(np.float64).reshape(shape), offset
    dtype = np.dtype(_DTYPES[out["datatype"]])
    count = math.prod(shape)
    if count * dtype.itemsize != size or offset + size > len(content):
        raise AnswerError(
            f"output {out['name']!r}: binary_data_size {size} does not fit shape {shape} of "
            f"{out['datatype']} and the {len(content) - offset} bytes left"
        )
    values = np.frombuffer(content, dtype=dtype, count=count, offset=offset)
    return values.astype(np.float64).reshape(shape), offset + size
