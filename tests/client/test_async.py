"""``AsyncClient``: the same answers and refusals as ``Client``, awaited, concurrently on
one connection pool."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from dimtensor import DimArray
from dimtensor import units as u

from service.client import AsyncClient, DimensionMismatchError, InputError, ModelNotFoundError

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


async def test_concurrent_predictions_each_in_their_units(async_client: AsyncClient) -> None:
    speeds = [36.0, 72.0, 108.0, 144.0]
    answers = await asyncio.gather(
        *(
            async_client.predict(
                "projectile",
                {
                    "speed": DimArray(s, u.km / u.hour),
                    "angle": (45, "deg"),
                    "g": (9.80665, "m/s^2"),
                },
                outputs={"range": "km"},
            )
            for s in speeds
        )
    )
    for s, answer in zip(speeds, answers, strict=True):
        assert answer["range"].unit.symbol == "km"
        want = (s / 3.6) ** 2 / 9.80665 / 1000
        assert float(np.asarray(answer["range"].data)) == pytest.approx(want, rel=1e-5)


async def test_the_other_methods(async_client: AsyncClient) -> None:
    assert await async_client.ready() is True
    info = await async_client.model("pendulum")
    assert info.name == "pendulum"
    assert "pendulum" in {m.name for m in await async_client.models()}
    assert (await async_client.parse_unit("km/h")).scale == pytest.approx(1 / 3.6)
    kelvin = await async_client.convert(0, "degC", "K")
    assert float(np.asarray(kelvin.data)) == pytest.approx(273.15)
    period = await async_client.predict(
        "pendulum",
        {"length": (100, "cm"), "amplitude": (10, "deg"), "g": (9.81, "m/s^2")},
        outputs={"period": "ms"},
    )
    assert float(np.asarray(period["period"].data)) == pytest.approx(
        2000 * math.pi * math.sqrt(1 / 9.81), rel=0.02
    )


async def test_refusals(async_client: AsyncClient) -> None:
    wrong = {"speed": (1, "kg"), "angle": (45, "deg"), "g": (9.81, "m/s^2")}
    expected = DimensionMismatchError if async_client.protocol == "native" else InputError
    with pytest.raises(expected) as caught:
        await async_client.predict("projectile", wrong)
    assert "kg" in caught.value.detail
    with pytest.raises(ModelNotFoundError):
        await async_client.predict("nope", wrong)
