"""The binary tensor data extension of the Open Inference Protocol (Triton's "binary_data").

Stock clients (tritonclient) send inputs and ask for outputs in binary by default: the
body is the JSON request followed by raw little-endian tensors, the JSON length is in
the ``Inference-Header-Content-Length`` header, and each binary input says its size in
``parameters.binary_data_size``. Supporting it is what lets such clients work unchanged.

An output goes back in the datatype its JSON part declares (``datatype_of`` the model's
dtype: ``FP32`` is 4 little-endian bytes a value, ``FP64`` 8).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.errors import InputError
from service.tensors import ModelArray, dumps_json, loads_json

__all__ = [
    "DATATYPES",
    "DTYPES",
    "HEADER",
    "BinaryTensorError",
    "datatype_of",
    "encode_response",
    "split_request",
    "wants_binary",
]

HEADER = "inference-header-content-length"
DTYPES: dict[str, str] = {
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
}  # fmt: skip
DATATYPES: dict[np.dtype[Any], str] = {np.dtype(code): name for name, code in DTYPES.items()}
"""numpy's dtype -> the protocol's datatype name."""


def datatype_of(values: ModelArray | np.generic) -> str:
    """The protocol's datatype of an array or scalar (``FP32`` for float32)."""
    return DATATYPES[values.dtype]


class BinaryTensorError(InputError):
    """A binary body that does not add up (sizes, datatype, header length)."""

    kind = "invalid-tensor"
    title = "Invalid tensor"


def split_request(raw: bytes, header_length: str | None) -> dict[str, Any]:
    """Parse the JSON part and attach each binary input's values as ``data``.

    Raises:
        BinaryTensorError: the header length, a size or a datatype does not fit.
        ValueError / RecursionError: the JSON part is malformed (the caller maps to 400).
    """
    if header_length is None:
        doc = loads_json(raw)
        if not isinstance(doc, dict):
            raise BinaryTensorError("an inference request must be a JSON object")
        return doc
    if not header_length.isdigit() or int(header_length) > len(raw):
        raise BinaryTensorError(
            f"Inference-Header-Content-Length is {header_length!r}; expected the byte length of "
            f"the JSON part, at most the body's {len(raw)} bytes"
        )
    split = int(header_length)
    doc = loads_json(raw[:split])
    if not isinstance(doc, dict):
        raise BinaryTensorError("an inference request must be a JSON object")
    offset = split
    for tensor in doc.get("inputs") or []:
        if not isinstance(tensor, dict):
            continue
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        offset = _attach(tensor, raw, offset, size)
    if offset != len(raw):
        raise BinaryTensorError(
            f"the binary part holds {len(raw) - split} bytes but the inputs' binary_data_size "
            f"add up to {offset - split}"
        )
    return doc


def _attach(tensor: dict[str, Any], raw: bytes, offset: int, size: Any) -> int:
    name = tensor.get("name")
    datatype = tensor.get("datatype")
    shape = tensor.get("shape")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BinaryTensorError(
            f"input {name!r}: binary_data_size must be a byte count, got {size!r}"
        )
    if datatype not in DTYPES:
        raise BinaryTensorError(
            f"input {name!r}: binary data of datatype {datatype!r} is not supported; expected one "
            f"of {sorted(DTYPES)}"
        )
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BinaryTensorError(f"input {name!r}: shape must be a list of non-negative integers")
    dtype = np.dtype(DTYPES[datatype])
    expected = math.prod(shape) * dtype.itemsize
    if size != expected or offset + size > len(raw):
        raise BinaryTensorError(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes; "
            f"binary_data_size says {size} and {len(raw) - offset} remain in the body"
        )
    values = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
    tensor["data"] = values.astype(np.float64).tolist() if dtype.kind == "f" else values.tolist()
    tensor["parameters"] = {
        k: v for k, v in tensor["parameters"].items() if k != "binary_data_size"
    }
    return offset + size


def wants_binary(request: dict[str, Any], output: dict[str, Any] | None) -> bool:
    """Whether an output goes back binary: its own ``binary_data``, else the request's
    ``binary_data_output``."""
    own = ((output or {}).get("parameters") or {}).get("binary_data")
    if isinstance(own, bool):
        return own
    return bool((request.get("parameters") or {}).get("binary_data_output", False))


def encode_response(doc: dict[str, Any], binary: dict[str, ModelArray]) -> tuple[bytes, int]:
    """The body (JSON part, then the raw outputs named in `binary`, each in the datatype its
    JSON part declares) and the JSON part's length, for ``Inference-Header-Content-Length``."""
    tail = []
    for output in doc["outputs"]:
        values = binary.get(output["name"])
        if values is None:
            continue
        data = np.ascontiguousarray(values, dtype=DTYPES[output["datatype"]]).tobytes()
        output.pop("data", None)
        output.setdefault("parameters", {})["binary_data_size"] = len(data)
        tail.append(data)
    head = dumps_json(doc)
    return head + b"".join(tail), len(head)
