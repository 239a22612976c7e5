"""The dimtensor pitfall (FIELD-NOTES): a numpy value on the LEFT of a DimArray operation
recurses and kills the process (a segfault on numpy 1.26). The client must never do it, on
any input kind built from numpy arrays and numpy scalars: run in a subprocess, so that the
crash would show as a signal instead of killing pytest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.support.client_server import KEY
from tests.support.servers import ServerProcess

CLIENT_SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    import pint
    from dimtensor import DimArray, units as u
    from service.client import Client

    ureg = pint.UnitRegistry()
    rows = np.array([36.0, 72.0])
    kinds = [
        {"speed": DimArray(rows, u.km / u.hour), "angle": DimArray(np.float64(45), u.degree),
         "g": DimArray(np.array(9.81), u.m / u.s**2)},
        {"speed": (rows, "km/h"), "angle": (np.float64(45), "deg"),
         "g": (np.float32(9.81), "m/s^2")},
        {"speed": (rows, u.km / u.hour), "angle": (np.float64(0.785), u.radian),
         "g": (np.array(9.81), ureg.m / ureg.s**2)},
        {"speed": ureg.Quantity(rows, "km/h"), "angle": ureg.Quantity(np.float64(45), "deg"),
         "g": ureg.Quantity(np.float64(9.81), "m/s**2")},
    ]
    wanted = {"range": u.km, "flight_time": "ms", "apex_height": ureg.foot}
    for protocol in ("native", "oip"):
        with Client(os.environ["URL"], api_key=os.environ["KEY"], protocol=protocol) as client:
            for inputs in kinds:
                answer = client.predict("projectile", inputs, outputs=wanted)
                assert answer["range"].unit == u.km
            converted = client.convert(np.float64(20), "degC", "K")
            assert abs(float(converted.data) - 293.15) < 1e-9
    print("ok")
    """
)


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
        check=False,
    )


def test_the_pitfall_is_real_here() -> None:
    """The control: the harness below would see the crash (the process dies by a signal)."""
    done = run(
        "import numpy as np\nfrom dimtensor import DimArray, units as u\n"
        "print(np.float64(2.0) * DimArray(np.array([1.0]), u.m))\n",
        {},
    )
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr[-500:])


@pytest.mark.slow
def test_the_client_never_puts_numpy_on_the_left(server: ServerProcess) -> None:
    done = run(CLIENT_SCRIPT, {"URL": server.url, "KEY": KEY})
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "ok"
