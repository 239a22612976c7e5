"""The core prediction path, called directly as batch jobs and other doors call it."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.dataplane import DataPlane, PredictRequest, QuantityIn
from service.errors import (
    DimensionMismatchError,
    MissingInputError,
    ModelNotFoundError,
    ShapeError,
    UnexpectedInputError,
    UnitError,
)
from service.models import ModelRepository

G0 = 9.80665


@pytest.fixture(scope="module")
def dataplane(default_repository: ModelRepository) -> DataPlane:
    return DataPlane(default_repository, default_model="projectile", max_rows=10_000)


def projectile(
    speed: Any,
    angle: Any,
    g: Any = G0,
    units: tuple[str, str, str] = ("m/s", "rad", "m/s^2"),
    outputs: dict[str, str | None] | None = None,
) -> PredictRequest:
    return PredictRequest(
        inputs={
            "speed": QuantityIn(speed, units[0]),
            "angle": QuantityIn(angle, units[1]),
            "g": QuantityIn(g, units[2]),
        },
        outputs=outputs,
    )


def test_unbatched_request_gives_unbatched_outputs(dataplane: DataPlane):
    result = dataplane.predict(projectile(20.0, math.pi / 4))
    assert not result.batched
    assert result.rows == 1
    assert result.outputs["range"].values.shape == ()
    assert float(result.outputs["range"].values) == pytest.approx(400 / G0, rel=1e-6)


def test_batch_and_broadcast(dataplane: DataPlane):
    result = dataplane.predict(projectile([10.0, 20.0, 30.0], math.pi / 4))
    assert result.batched
    assert result.outputs["range"].values == pytest.approx(
        [v**2 / G0 for v in (10, 20, 30)], rel=1e-6
    )


def test_missing_unit_means_the_models_unit(dataplane: DataPlane):
    request = PredictRequest(
        inputs={
            "speed": QuantityIn(20.0, None),
            "angle": QuantityIn(math.pi / 4, None),
            "g": QuantityIn(G0, None),
        }
    )
    assert float(dataplane.predict(request).outputs["range"].values) == pytest.approx(
        400 / G0, rel=1e-6
    )


def test_typed_errors(dataplane: DataPlane):
    with pytest.raises(DimensionMismatchError, match="input 'speed'"):
        dataplane.predict(projectile(1.0, 1.0, units=("kg", "rad", "m/s^2")))
    with pytest.raises(UnitError, match="input 'angle'"):
        dataplane.predict(projectile(1.0, 1.0, units=("m/s", "nope_unit", "m/s^2")))
    with pytest.raises(ShapeError):
        dataplane.predict(projectile([1.0, 2.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ModelNotFoundError):
        dataplane.predict(PredictRequest(inputs={}, model="nope"))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 16),
    speed=st.floats(0.1, 1e4),
    factor=st.sampled_from([("m/s", 1.0), ("km/h", 3.6), ("ft/s", 1 / 0.3048), ("mm/s", 1e3)]),
)
def test_batching_equals_one_row_at_a_time(
    dataplane: DataPlane, rows: int, speed: float, factor: tuple[str, float]
):
    unit, k = factor
    angles = np.linspace(0.1, 1.4, rows)
    batch = dataplane.predict(projectile(speed * k, angles.tolist(), units=(unit, "rad", "m/s^2")))
    for i, angle in enumerate(angles):
        one = dataplane.predict(projectile(speed, float(angle)))
        for name, out in one.outputs.items():
            assert batch.outputs[name].values[i] == pytest.approx(float(out.values), rel=1e-5)


@pytest.fixture
def no_dimarray(monkeypatch: pytest.MonkeyPatch) -> None:
    """dimtensor segfaults on a numpy left operand of a DimArray (FIELD-NOTES): the path
    must never create one from client data, so any creation fails the test using this."""
    from dimtensor.core.dimarray import DimArray

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a DimArray was built on the prediction path")

    monkeypatch.setattr(DimArray, "__init__", forbidden)
    monkeypatch.setattr(DimArray, "__array_ufunc__", forbidden)


def projectile_range(speed_kmh: Any, angle_deg: float = 0.5) -> Any:
    """v^2 sin(2 angle) / g in metres, from km/h and degrees: the expected answers below."""
    v = np.asarray(speed_kmh, dtype=np.float64) / 3.6
    return v**2 * math.sin(math.radians(2 * angle_deg)) / G0


@pytest.mark.parametrize(
    ("value", "rows", "batched", "speeds"),
    [
        pytest.param(np.float64(2.0), 1, False, 2.0, id="numpy-float64"),
        pytest.param(np.float32(1.5), 1, False, 1.5, id="numpy-float32"),
        pytest.param(np.int64(4), 1, False, 4.0, id="numpy-int64"),
        pytest.param(np.array(2.0), 1, False, 2.0, id="numpy-0d-array"),
        pytest.param(5, 1, False, 5.0, id="python-int"),
        pytest.param([np.float64(3.0)], 1, True, [3.0], id="list-of-numpy-float64"),
        pytest.param(np.array([1.0, 2.0]), 2, True, [1.0, 2.0], id="numpy-array"),
    ],
)
def test_numeric_payloads_are_answered_without_a_dimarray(
    no_dimarray: None, dataplane: DataPlane, value: Any, rows: int, batched: bool, speeds: Any
):
    """Each payload kind a client or a batch job sends for a scalar input is accepted; a
    single value answers unbatched, a list or array keeps its row axis."""
    result = dataplane.predict(projectile(value, 0.5, units=("km/h", "deg", "m/s^2")))
    assert (result.rows, result.batched) == (rows, batched)
    out = result.outputs["range"]
    assert out.unit.expression == "m"
    expected = projectile_range(speeds)
    assert out.values.shape == expected.shape
    np.testing.assert_allclose(out.values, expected, rtol=1e-6)  # a float32 forward


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            [[1.0]],
            "input 'speed': expected per-row shape [] (one row shaped [] or a batch shaped "
            "[rows]), received shape [1, 1]",
            id="nested-one-level-too-deep",
        ),
        pytest.param(
            np.array([[1.0, 2.0]]),
            "input 'speed': expected per-row shape [] (one row shaped [] or a batch shaped "
            "[rows]), received shape [1, 2]",
            id="numpy-2d-array",
        ),
        pytest.param(
            True,
            "input 'speed': expected a number or a (nested) list of numbers, received bool True",
            id="bool",
        ),
    ],
)
def test_a_malformed_payload_is_refused_before_any_arithmetic(
    no_dimarray: None, dataplane: DataPlane, value: Any, message: str
):
    with pytest.raises(ShapeError) as refused:
        dataplane.predict(projectile(value, 0.5, units=("km/h", "deg", "m/s^2")))
    assert refused.value.message == message
    assert refused.value.details["input"] == "speed"


def test_a_numpy_scalar_converts_without_a_dimarray(no_dimarray: None, dataplane: DataPlane):
    value, unit = dataplane.convert(np.float64(3.0), "degC", "degF")
    assert float(value) == pytest.approx(37.4, rel=1e-12)
    assert unit.expression == "degF"


def test_numpy_scalar_inputs_do_not_crash_the_process(tmp_path):
    """Run the numpy-left-operand pattern through the core in a child process: a segfault
    would show as a negative return code."""
    code = (
        "import numpy as np\n"
        "from service.dataplane import DataPlane, PredictRequest, QuantityIn\n"
        "from service.models import ModelRepository, default_repository_path\n"
        "repo = ModelRepository.load(default_repository_path())\n"
        "dp = DataPlane(repo, default_model='projectile')\n"
        "for v in (np.float64(2.0), np.array([2.0, 3.0]), np.float32(1.5)):\n"
        "    r = dp.predict(PredictRequest(inputs={'speed': QuantityIn(v, 'km/h'),\n"
        "        'angle': QuantityIn(np.float64(30.0), 'deg'), 'g': QuantityIn(9.8, 'm/s^2')}))\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_check_signature_refuses_as_predict_does_without_values(
    default_repository: ModelRepository,
) -> None:
    """The batch door's check before any work: the same refusals and words as a request."""
    plane = DataPlane(default_repository)
    units: dict[str, str | None] = {"speed": "km/h", "angle": "deg", "g": "m/s^2"}
    assert plane.check_signature("projectile", None, units, {"range": "km"}).name == "projectile"
    cases: list[tuple[dict[str, str | None], dict[str, str | None] | None, type[Exception]]] = [
        ({**units, "speed": "kg"}, None, DimensionMismatchError),
        ({**units, "speed": "bananas"}, None, UnitError),
        ({k: v for k, v in units.items() if k != "g"}, None, MissingInputError),
        (units, {"range": "s"}, DimensionMismatchError),
        (units, {"height": "m"}, UnexpectedInputError),
    ]
    for inputs, outputs, error in cases:
        with pytest.raises(error) as checked:
            plane.check_signature("projectile", None, inputs, outputs)
        values = {k: QuantityIn(1.0, v) for k, v in inputs.items()}
        with pytest.raises(error) as predicted:
            plane.predict(PredictRequest(values, "projectile", outputs=outputs))
        assert str(checked.value) == str(predicted.value)
    assert plane.check_signature("projectile", None, {**units, "g": None}).version == "1"
