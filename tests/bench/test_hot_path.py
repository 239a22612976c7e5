"""The shortcuts the benchmark drove into the core change no answer and no error.

The data plane converts plain scalars (inputs, and single output values) in Python and
keeps (unit text, model unit) pairs; the general numpy path is the reference. For any
value and unit, a warm plane (second call, pairs cached) answers exactly what a plane
without the shortcuts answers: the same arrays bit for bit, or the same error type,
message and details.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.dataplane import DataPlane, PredictRequest, PredictResult, QuantityIn
from service.errors import ServiceError
from service.models import ModelRepository

numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([1e308, -1e308, 2**63, -(2**63), 2**63 - 1, 0, -0.0, 5e-324])
)
values = (
    numbers
    | st.lists(numbers, min_size=1, max_size=1)
    | st.lists(numbers, min_size=2, max_size=3)
    | st.builds(lambda x: np.array([x], dtype=np.float64), st.floats(allow_nan=True))
    | st.sampled_from([True, None, "1", [[1.0]], [], {"a": 1}, np.array([1, 2])])
)
speed_units = st.sampled_from(["m/s", "km/h", "mph", "kg", "nope", "Ym/ys", "ym/Ys", None])
angle_units = st.sampled_from(["rad", "deg", "mrad", "m", None])


def outcome(plane: DataPlane, request: PredictRequest) -> Any:
    try:
        result: PredictResult = plane.predict(request)
    except ServiceError as exc:
        return (type(exc), exc.message, exc.details)
    return (
        result.rows,
        result.batched,
        {
            k: (np.asarray(v.values).tobytes(), np.shape(v.values), v.unit.expression)
            for k, v in result.outputs.items()
        },
    )


@pytest.fixture(scope="module")
def planes(default_repository: ModelRepository) -> tuple[DataPlane, DataPlane]:
    fast = DataPlane(default_repository, default_model="projectile", max_rows=100)
    slow = DataPlane(default_repository, default_model="projectile", max_rows=100)
    slow._one_row_scalar = lambda *args: None  # type: ignore[method-assign]
    slow._fast_output = lambda *args: None  # type: ignore[method-assign]
    return fast, slow


# runtime.py casts to float32 for the forward pass; numbers past 3.4e38 warn there (for
# both paths alike) before the core refuses the non-finite output.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    speed=values,
    speed_unit=speed_units,
    angle=values,
    angle_unit=angle_units,
    g=values,
    out_unit=st.sampled_from([None, "m", "km", "ft", "s", "Ym"]),
)
def test_the_fast_path_answers_exactly_as_the_general_path(
    planes: tuple[DataPlane, DataPlane],
    speed: Any,
    speed_unit: str | None,
    angle: Any,
    angle_unit: str | None,
    g: Any,
    out_unit: str | None,
):
    fast, slow = planes
    request = PredictRequest(
        inputs={
            "speed": QuantityIn(speed, speed_unit),
            "angle": QuantityIn(angle, angle_unit),
            "g": QuantityIn(g, "m/s^2"),
        },
        outputs={"range": out_unit} if out_unit else None,
    )
    expected = outcome(slow, request)
    assert outcome(fast, request) == expected  # first sight of the unit pairs
    assert outcome(fast, request) == expected  # pairs cached: the shortcut applies


oip_numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    speed=oip_numbers,
    speed_unit=speed_units,
    datatype=st.sampled_from(["FP64", "FP32", "FP16", "INT64"]),
    shape=st.sampled_from([[1], [1, 1], []]),
    out_unit=st.sampled_from([None, "m", "km", "s"]),
)
def test_the_oip_one_row_shortcut_answers_exactly_as_the_general_path(
    planes: tuple[DataPlane, DataPlane],
    speed: Any,
    speed_unit: str | None,
    datatype: str,
    shape: list[int],
    out_unit: str | None,
):
    """An OIP tensor of one float is decoded in one numpy call; with that shortcut off it
    goes through the datatype and shape checks and the general walk. Same answers."""
    from service.rest.oip import tensors as v2
    from service.rest.oip.datamodels import InferenceRequest

    fast, _ = planes
    model = fast.resolve("projectile")
    tensors: list[dict[str, Any]] = [
        {"name": "speed", "shape": shape, "datatype": datatype, "data": [speed]},
        {"name": "angle", "shape": [1], "datatype": "FP64", "data": [0.5]},
        {"name": "g", "shape": [1], "datatype": "FP64", "data": [9.81]},
    ]
    if speed_unit is not None:
        tensors[0]["parameters"] = {"unit": speed_unit}
    for t in tensors[1:]:
        t["parameters"] = {"unit": "rad" if t["name"] == "angle" else "m/s^2"}
    outputs = [{"name": "range", "parameters": {"unit": out_unit}}] if out_unit else None
    body = InferenceRequest.model_validate({"inputs": tensors, "outputs": outputs})

    def answer() -> Any:
        try:
            request = v2.to_predict_request(model, body, "model")
        except ServiceError as exc:
            return (type(exc), exc.message)
        return outcome(fast, request)

    shortcut = answer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(v2, "FLOAT_DATATYPES", frozenset())
        assert answer() == shortcut
