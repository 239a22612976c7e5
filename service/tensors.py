"""Client values to plain float64 arrays, the row/broadcast rules between them, and JSON.

Why a module of its own: every door (native JSON, OIP, batch rows) hands the core
numbers in some nested form, and the checks that make them safe (numbers only, no
ragged lists, finite, shape fits the model, bounded size) must exist exactly once.
Values are plain numpy arrays from here on: dimtensor's DimArray is never built from
client data, which keeps its numpy-left-operand crash out of reach.

Results go the other way in the dtype the model computes in (``ModelArray``); the JSON doors
write them with :func:`dumps_json`, which gives a float32 the shortest text that reads back
to the same float32 (``35.324``, not the float64 digits ``35.32400131225586``) and a float64
the shortest text that reads back to the same float64.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from service.errors import LimitExceededError, NonFiniteError, ShapeError

__all__ = [
    "FloatArray",
    "ModelArray",
    "as_float_array",
    "check_finite",
    "dumps_json",
    "json_values",
    "loads_json",
    "rows_of",
]

FloatArray = npt.NDArray[np.float64]
"""Client values and model inputs: float64."""
ModelArray = npt.NDArray[np.floating[Any]]
"""A model's results, in the dtype it computes in (``LoadedModel.dtype``)."""

_NUMERIC_KINDS = frozenset("iuf")


# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float
# (10**30 -> 1e30) where Python's json keeps an int that the checks refuse.
# (Spelled [0-9][0-9]{18}: Python's re then scans for a first digit, twice as fast.)
_LONG_DIGITS = re.compile(rb"[0-9][0-9]{18}")


def loads_json(raw: bytes) -> Any:
    """Python's ``json.loads`` of a request body, at orjson's speed where the two agree.

    orjson reads most bodies exactly as Python's json does; what it would read otherwise
    (NaN/Infinity literals, integers past 64 bits, bad UTF-8, malformed JSON) goes to
    ``json.loads``, which gives the same value or raises the same error as before.
    """
    if not _LONG_DIGITS.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def json_values(values: ModelArray | np.floating[Any]) -> Any:
    """`values` as :func:`dumps_json` writes them in their own dtype: a numpy scalar for a
    single value (orjson refuses 0-d arrays), else a C-contiguous array."""
    if not isinstance(values, np.ndarray):
        return values
    return values[()] if values.ndim == 0 else np.ascontiguousarray(values)


def dumps_json(doc: Any) -> bytes:
    """A response body: orjson, numpy arrays and scalars written straight from their dtype
    (float32 as the shortest float32 text). Values must be finite (the core checks them)."""
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_float_array(value: Any, *, name: str, max_values: int) -> FloatArray:
    """Turn a number or a nested list of numbers into a float64 array.

    Refuses strings, booleans, nulls, objects and ragged lists, which numpy would
    otherwise coerce ("1" -> 1.0) or store as objects.
    """
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, bool) or value is None or isinstance(value, str | dict):
            raise ShapeError(
                f"input '{name}': expected a number or a (nested) list of numbers, "
                f"received {type(value).__name__} {_describe(value)}",
                input=name,
                received=type(value).__name__,
            )
        try:
            arr = np.asarray(value)
        except (ValueError, OverflowError, TypeError) as exc:
            raise ShapeError(
                f"input '{name}': expected a rectangular (nested) list of numbers, "
                f"received a ragged or non-numeric list ({exc})",
                input=name,
            ) from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise ShapeError(
            f"input '{name}': expected numbers only, received values of type "
            f"{_numpy_kind(arr)} (strings, booleans, nulls and integers beyond 64 bits "
            "are refused)",
            input=name,
            received=_numpy_kind(arr),
        )
    if arr.size > max_values:
        raise LimitExceededError(
            f"input '{name}': at most {max_values} values per request, received {arr.size}",
            input=name,
            limit=max_values,
            received=int(arr.size),
        )
    return np.asarray(arr, dtype=np.float64)


def _numpy_kind(arr: FloatArray) -> str:
    return {"b": "boolean", "U": "string", "S": "bytes", "O": "mixed/object"}.get(
        arr.dtype.kind, str(arr.dtype)
    )


def check_finite(arr: FloatArray, *, name: str, role: str = "input") -> None:
    """Refuse NaN and infinities, naming the first offending flat index."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise NonFiniteError(
            f"{role} '{name}': expected finite numbers, received {arr.flat[bad]!r} "
            f"at flat index {bad}",
            **{role: name},
            index=bad,
        )


def rows_of(arr: FloatArray, row_shape: Sequence[int], *, name: str) -> int | None:
    """How many rows `arr` holds for a per-row shape: None for a single unbatched row.

    A value shaped exactly like one row is unbatched (it broadcasts against batches);
    a value with one extra leading axis is a batch of rows.
    """
    shape = tuple(row_shape)
    if arr.shape == shape:
        return None
    if arr.ndim == len(shape) + 1 and arr.shape[1:] == shape:
        if arr.shape[0] == 0:
            raise ShapeError(
                f"input '{name}': expected at least one row, received an empty batch",
                input=name,
            )
        return int(arr.shape[0])
    batch = ", ".join(["rows", *map(str, shape)])
    raise ShapeError(
        f"input '{name}': expected per-row shape {list(shape)} (one row shaped "
        f"{list(shape)} or a batch shaped [{batch}]), received shape {list(arr.shape)}",
        input=name,
        expected_shape=list(shape),
        received_shape=list(arr.shape),
    )
