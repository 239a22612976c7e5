"""Open Inference Protocol tensors: request tensors to plain arrays, results to tensors.

Pure functions over the protocol's data models (``service.rest.oip.datamodels``): no HTTP.
The first axis of a tensor is the batch; a tensor without it is one row. Every datatype,
shape and value check of the protocol itself is here; units and dimensions are the core's.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pydantic import ValidationError

from service.dataplane import PredictRequest, PredictResult, QuantityIn
from service.errors import InputError, ServiceError
from service.models import LoadedModel
from service.rest.oip.binary import DTYPES, datatype_of, split_request
from service.rest.oip.datamodels import InferenceRequest, RequestInput
from service.tensors import FloatArray, json_values

__all__ = [
    "FLOAT_DATATYPES",
    "NUMERIC_DATATYPES",
    "InvalidTensorError",
    "decode_tensor",
    "parse_infer",
    "to_predict_request",
    "to_response",
]

NUMERIC_DATATYPES = frozenset(DTYPES)
FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
INTEGER_LIMITS = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}


class InvalidTensorError(InputError):
    """A tensor that breaks the protocol itself (datatype, shape vs data)."""

    kind = "invalid-tensor"
    title = "Invalid tensor"


def parse_infer(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], InferenceRequest]:
    try:
        doc = split_request(raw, header_length)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ServiceError):
            raise
        raise InvalidTensorError(f"the body is not a valid JSON inference request: {exc}") from None
    try:
        return doc, InferenceRequest.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidTensorError(f"invalid inference request at {loc}: {first['msg']}") from None


def to_predict_request(
    model: LoadedModel, body: InferenceRequest, missing_unit: str
) -> PredictRequest:
    declared = model.inputs_by_name
    inputs: dict[str, QuantityIn] = {}
    for tensor in body.inputs:
        name = tensor.name
        if name in inputs:
            raise InvalidTensorError(f"input '{name}' appears twice in the request", input=name)
        unit = _unit_parameter(tensor.parameters, "input", name)
        if unit is None and missing_unit == "refuse" and name in declared:
            u = declared[name][1]
            raise InvalidTensorError(
                f"input '{name}' has no parameters.unit; expected a unit of dimension "
                f'{u.dimension_name}, e.g. "{u.expression}" (set OIP_MISSING_UNIT=model '
                "to read a missing unit as the model's)",
                input=name,
            )
        spec = declared.get(name)
        per_row = None if spec is None else spec[0].shape
        inputs[name] = QuantityIn(decode_tensor(tensor, per_row), unit)
    outputs: dict[str, str | None] = {}
    for wanted in body.outputs or []:
        outputs[wanted.name] = _unit_parameter(wanted.parameters, "output", wanted.name)
    return PredictRequest(
        inputs=inputs,
        model=model.manifest.name,
        version=model.manifest.version,
        outputs=outputs,
        protocol="v2",
    )


def _unit_parameter(parameters: dict[str, Any] | None, role: str, name: str) -> str | None:
    unit = (parameters or {}).get("unit")
    if unit is None or type(unit) is str:
        return unit
    raise InvalidTensorError(
        f"{role} '{name}': parameters.unit must be a string such as \"m/s\", received {unit!r}"
    )


def decode_tensor(tensor: RequestInput, per_row: list[int] | None) -> FloatArray:
    """A tensor's data as a float64 array with the batch as its first axis, after checking
    its datatype and shape against the data. `per_row` is the model's shape of one row of
    this input (None: an input the model does not declare; the core refuses it).

    A tensor of one float (the usual one-row scalar) is read in one numpy call: the general
    walk (flatten, check each value, reshape) costs several times more, and for one float
    of a float datatype it can find nothing wrong. Both give the same array; the hypothesis
    test in tests/bench/test_hot_path.py holds them to it.
    """
    data = tensor.data
    if (
        tensor.shape == [1]
        and type(data) is list
        and len(data) == 1
        and type(data[0]) is float
        and tensor.datatype in FLOAT_DATATYPES
    ):
        arr = np.array(data)
    else:
        arr = _checked_array(tensor)
    if per_row == [] and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # [N, 1] is the usual way to send N scalars
    if per_row is not None and arr.ndim == len(per_row):
        arr = arr[np.newaxis]  # no batch axis: one row
    return arr


def _checked_array(tensor: RequestInput) -> FloatArray:
    where = f"input '{tensor.name}'"
    if tensor.datatype not in NUMERIC_DATATYPES:
        raise InvalidTensorError(
            f"{where}: datatype {tensor.datatype!r} is not supported; expected one of "
            f"{sorted(NUMERIC_DATATYPES)}"
        )
    if any(d < 0 for d in tensor.shape):
        raise InvalidTensorError(f"{where}: shape {tensor.shape} has a negative dimension")
    data = tensor.data if isinstance(tensor.data, list) else [tensor.data]
    flat = _flatten(data, where)
    expected = math.prod(tensor.shape)
    if len(flat) != expected:
        raise InvalidTensorError(
            f"{where}: shape {tensor.shape} holds {expected} values, received {len(flat)}"
        )
    _check_datatype(flat, tensor.datatype, where)
    try:
        return np.asarray(flat, dtype=np.float64).reshape(tensor.shape)
    except OverflowError:
        raise InvalidTensorError(f"{where}: a value is too large for a 64-bit float") from None


def _flatten(data: list[Any], where: str) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > 32:
                    raise InvalidTensorError(f"{where}: data nested deeper than 32 levels")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _check_datatype(flat: list[Any], datatype: str, where: str) -> None:
    for value in flat:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidTensorError(
                f"{where}: {datatype} data must be numbers, received {value!r}"
            )
    limits = INTEGER_LIMITS.get(datatype)
    if limits is not None:
        low, high = limits
        bad = next((v for v in flat if not isinstance(v, int) or not low <= v <= high), None)
        if bad is not None:
            raise InvalidTensorError(
                f"{where}: {datatype} data must be integers in [{low}, {high}], received {bad!r}"
            )


def to_response(result: PredictResult, body: InferenceRequest) -> dict[str, Any]:
    """``InferenceResponse`` as a dict (built directly: no validate/dump round trip); each
    output's ``data`` is a numpy array in the model's dtype, declared by ``datatype``, for
    ``dumps_json`` to write."""
    wanted = [o.name for o in body.outputs] if body.outputs else list(result.outputs)
    outputs = []
    for name in wanted:
        out = result.outputs[name]
        values = out.values if result.batched else out.values[np.newaxis]
        outputs.append(
            {
                "name": name,
                "shape": list(values.shape),
                "datatype": datatype_of(values),
                "parameters": {
                    "unit": out.unit.expression,
                    "dimension": out.unit.dimension_name,
                },
                "data": json_values(values.ravel()),
            }
        )
    response: dict[str, Any] = {"model_name": result.model, "model_version": result.version}
    if body.id is not None:
        response["id"] = body.id
    if result.outside:
        # parameter values are scalars: the rows outside, by input, as JSON text
        outside = json.dumps(result.rows_outside(), separators=(",", ":"))
        response["parameters"] = {"outside_domain": outside}
    response["outputs"] = outputs
    return response
