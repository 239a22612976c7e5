"""Round trips against a real server, in both protocols: each kind of input, units other
than the model's, outputs in the units asked for, batches and broadcasting."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pint
import pytest
from dimtensor import DimArray, Unit
from dimtensor import units as u

from service.client import Client, Prediction
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.slow

UREG: Any = pint.UnitRegistry()
G0 = 9.80665


def expected_range(speed_ms: float, angle_rad: float, g: float = G0) -> float:
    return speed_ms**2 * math.sin(2 * angle_rad) / g


def values(q: DimArray) -> Any:
    return np.asarray(q.data, dtype=np.float64)


# Each: the three inputs in one kind, all meaning 72 km/h at 45 degrees under standard g.
INPUTS = {
    "dimarray": {
        "speed": DimArray(72.0, u.km / u.hour),
        "angle": DimArray(45.0, u.degree),
        "g": DimArray(G0, u.m / u.s**2),
    },
    "pair-text": {"speed": (72, "km/h"), "angle": (45, "deg"), "g": (G0, "m/s^2")},
    "pair-dimtensor-unit": {
        "speed": (72, u.km / u.hour),
        "angle": (45, u.degree),
        "g": (G0, u.m / u.s**2),
    },
    "pint": {
        "speed": UREG.Quantity(72, "km/h"),
        "angle": UREG.Quantity(45, "degree"),
        "g": UREG.Quantity(G0, "m/s**2"),
    },
    "pair-pint-unit": {
        "speed": (72, UREG.km / UREG.hour),
        "angle": (45, UREG.degree),
        "g": (G0, UREG.m / UREG.s**2),
    },
    "pint-in-feet-and-mph": {
        "speed": UREG.Quantity(72 / 1.609344, "mph"),
        "angle": UREG.Quantity(math.pi / 4, "rad"),
        "g": UREG.Quantity(G0 / 0.3048, "ft/s**2"),
    },
}


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_every_input_kind_gives_the_same_answer(client: Client, kind: str) -> None:
    answer = client.predict("projectile", INPUTS[kind], outputs={"range": "m"})
    assert isinstance(answer, Prediction)
    assert (answer.model, answer.version) == ("projectile", "1")
    assert list(answer) == ["range"]
    rng = answer["range"]
    assert isinstance(rng, DimArray)
    assert rng.unit.symbol == "m"
    assert values(rng).shape == ()  # no input was a batch: no batch axis
    assert float(values(rng)) == pytest.approx(expected_range(20, math.pi / 4), rel=1e-5)


def test_outputs_come_back_in_the_units_asked_for(client: Client) -> None:
    answer = client.predict(
        "projectile",
        INPUTS["pair-text"],
        outputs={
            "range": "km",
            "flight_time": u.ms if hasattr(u, "ms") else "ms",
            "apex_height": UREG.foot,
        },
    )
    assert answer["range"].unit.symbol == "km"
    assert float(values(answer["range"])) == pytest.approx(expected_range(20, math.pi / 4) / 1000)
    assert answer["range"].dimension == u.km.dimension
    flight_ms = 2 * 20 * math.sin(math.pi / 4) / G0 * 1000
    assert float(values(answer["flight_time"])) == pytest.approx(flight_ms, rel=1e-5)
    apex = answer["apex_height"]  # a pint unit asked: a pint quantity
    assert isinstance(apex, UREG.Quantity)
    assert apex.units == UREG.foot
    assert apex.magnitude == pytest.approx(20**2 * 0.5 / (2 * G0) / 0.3048, rel=1e-5)


def test_a_dimtensor_unit_the_grammar_cannot_name_is_still_honoured(client: Client) -> None:
    """A Unit whose symbol the server cannot read goes (and comes back) through SI."""
    furlong = Unit("furlong", u.m.dimension, 201.168)
    fortnight = Unit("fortnight", u.s.dimension, 1_209_600.0)
    speed = DimArray(20 / 201.168 * 1_209_600.0, furlong / fortnight)
    answer = client.predict(
        "projectile",
        {"speed": speed, "angle": (45, "deg"), "g": (G0, "m/s^2")},
        outputs={"range": furlong},
    )
    rng = answer["range"]
    assert rng.unit == furlong
    assert float(values(rng)) == pytest.approx(expected_range(20, math.pi / 4) / 201.168, rel=1e-5)


def test_a_symbol_the_grammar_reads_as_another_unit_is_sent_by_its_meaning(
    client: Client,
) -> None:
    """A home-made "mi" of 1 km: the grammar reads "mi" as the statute mile, so the value
    must go by what the Unit means (its scale), not by its symbol."""
    mi = Unit("mi", u.m.dimension, 1000.0)
    answer = client.predict(
        "projectile",
        {"speed": DimArray(72.0, mi / u.hour), "angle": (45, "deg"), "g": (G0, "m/s^2")},
        outputs={"range": mi},
    )
    rng = answer["range"]
    assert rng.unit == mi
    assert float(values(rng)) == pytest.approx(expected_range(20, math.pi / 4) / 1000, rel=1e-5)


def test_a_batch_with_a_broadcast_single_row(client: Client) -> None:
    speeds = np.array([36.0, 72.0, 108.0])
    answer = client.predict(
        "projectile",
        {"speed": DimArray(speeds, u.km / u.hour), "angle": (30, "deg"), "g": (G0, "m/s^2")},
        outputs=["range", "flight_time"],
    )
    assert sorted(answer) == ["flight_time", "range"]
    assert answer["range"].unit.symbol == "m"  # listed without a unit: the model's
    want = [expected_range(v / 3.6, math.pi / 6) for v in speeds]
    assert values(answer["range"]).tolist() == pytest.approx(want, rel=1e-5)


def test_no_outputs_named_gives_every_output_in_the_models_units(client: Client) -> None:
    answer = client.predict("projectile", INPUTS["pair-text"], version=1)
    assert {k: v.unit.symbol for k, v in answer.items()} == {
        "range": "m",
        "apex_height": "m",
        "flight_time": "s",
    }


def test_pint_output_by_option(server: ServerProcess, protocol: str) -> None:
    from tests.support.client_server import KEY

    with Client(server.url, api_key=KEY, protocol=protocol, returns=UREG) as c:  # type: ignore[arg-type]
        answer = c.predict("projectile", INPUTS["pint"], outputs={"range": "km"})
        as_dimarray = c.predict(
            "projectile", INPUTS["pint"], outputs={"range": "km"}, returns="dimarray"
        )
    rng = answer["range"]
    assert isinstance(rng, UREG.Quantity)
    assert rng.to("m").magnitude == pytest.approx(expected_range(20, math.pi / 4), rel=1e-5)
    assert isinstance(as_dimarray["range"], DimArray)


def test_an_absolute_temperature_converts_with_its_offset(native: Client) -> None:
    kelvin = native.convert([20, 100], "degC", "K")
    assert values(kelvin).tolist() == pytest.approx([293.15, 373.15])
    assert kelvin.unit.symbol == "K"
    back = native.convert(UREG.Quantity(293.15, "K").magnitude, "K", "degC", returns="pint")
    assert str(back.units) == "degree_Celsius"  # the application registry's
    assert back.magnitude == pytest.approx(20.0)


def test_models_model_parse_and_ready(client: Client) -> None:
    models = {m.name: m for m in client.models()}
    assert {"projectile", "pendulum", "broken"} <= set(models)
    projectile = client.model("projectile")
    assert projectile == models["projectile"]
    version = projectile.version()
    assert version is not None
    assert version.state == "ready"
    speed = version.input("speed")
    assert speed is not None
    assert (speed.unit, speed.dimension) == ("m/s", "length*time^-1")
    assert speed.as_unit().dimension == (u.m / u.s).dimension
    assert [v.state for v in models["broken"].versions] == ["failed"]
    unit = client.parse_unit("kg*m^2/s^2")
    assert (unit.dimension, unit.scale, unit.si) == ("length^2*mass*time^-2", 1.0, "kg*m^2*s^-2")
    assert unit.as_unit().dimension == u.J.dimension
    assert client.ready() is True
