"""The client reports rows outside a model's validity domain in both protocols, and raises
the server's refusal as ``OutsideDomainError`` under ``DOMAIN_POLICY=refuse``."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import errors
from service.client import Client, OutsideDomainError
from tests.support.servers import run_server

PENDULUM = {
    "length": (1.0, "m"),
    "amplitude": ([10.0, 170.0], "deg"),  # 170 deg = 2.97 rad: past the 2.8 rad it declares
    "g": (9.81, "m/s^2"),
}


def test_rows_outside_the_domain_are_reported(client: Client) -> None:
    answer = client.predict("pendulum", PENDULUM, outputs={"period": "s"})
    assert answer.outside_domain == {"amplitude": [1]}
    inside = client.predict("pendulum", {**PENDULUM, "amplitude": (10.0, "deg")})
    assert inside.outside_domain == {}


@pytest.mark.slow
def test_a_refusing_server_raises_outside_domain_error(tmp_path: Path) -> None:
    with (
        run_server(tmp_path, workers=1, DOMAIN_POLICY="refuse") as server,
        Client(server.url) as c,
        pytest.raises(OutsideDomainError) as caught,
    ):
        c.predict("pendulum", PENDULUM)
    assert isinstance(caught.value, errors.OutsideDomainError)
    assert caught.value.input == "amplitude"
    assert caught.value.status == 422
