"""``dimtensor-serve-client`` and ``python -m service.client`` against the real server:
tables with units, refusals on stderr with their exit codes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ports import free_port
from jobkit.exits import ExitCode
from service.client._cli import parse_quantity
from tests.support.client_server import KEY
from tests.support.servers import ServerProcess

SCRIPT = Path(sys.executable).with_name("dimtensor-serve-client")


def run(
    server_url: str, *args: str, key: str = KEY, module: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service.client"] if module else [str(SCRIPT)]
    env = {**os.environ, "DIMTENSOR_SERVE_URL": server_url, "DIMTENSOR_SERVE_API_KEY": key}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("72km/h", (72.0, "km/h")),
        ("9.81m/s^2", (9.81, "m/s^2")),
        ("1e3 m", (1000.0, "m")),
        ("1eV", (1.0, "eV")),
        ("-40degC", (-40.0, "degC")),
        ("10,20,30m/s", ([10.0, 20.0, 30.0], "m/s")),
        ("[1, 2] kg", ([1.0, 2.0], "kg")),
        (".5 1", (0.5, "1")),
    ],
)
def test_a_quantity_on_the_command_line(text: str, parsed: tuple[object, str]) -> None:
    assert parse_quantity(text) == parsed


@pytest.mark.parametrize("text", ["72", "km/h", "", "1,2"])
def test_a_value_without_a_unit_or_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"unit|number"):
        parse_quantity(text)


@pytest.mark.slow
@pytest.mark.parametrize("module", [False, True], ids=["console-script", "python-m"])
def test_predict_prints_a_table_with_units(server: ServerProcess, module: bool) -> None:
    done = run(
        server.url,
        "predict",
        "projectile",
        "speed=72km/h",
        "angle=45deg",
        "g=9.81m/s^2",
        "--out",
        "range=m",
        "--out",
        "flight_time=ms",
        module=module,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "projectile version 1"
    assert lines[1].split() == ["output", "value", "unit"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert set(rows) == {"range", "flight_time"}
    assert float(rows["range"][0]) == pytest.approx(20**2 / 9.81, rel=1e-5)
    assert rows["range"][1] == "m"
    assert float(rows["flight_time"][0]) == pytest.approx(
        2 * 20 * math.sqrt(0.5) / 9.81 * 1000, rel=1e-5
    )
    assert rows["flight_time"][1] == "ms"


@pytest.mark.slow
def test_a_batch_prints_one_row_per_row(server: ServerProcess) -> None:
    done = run(
        server.url,
        "--protocol",
        "oip",
        "predict",
        "projectile",
        "speed=10,20m/s",
        "angle=45deg",
        "g=9.81m/s^2",
        "--out",
        "range=km",
        "--out",
        "apex_height",
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()[1:]
    assert header.split() == ["row", "range", "[km]", "apex_height", "[m]"]
    assert [r.split()[0] for r in rows] == ["0", "1"]
    assert float(rows[1].split()[1]) == pytest.approx(20**2 / 9.81 / 1000, rel=1e-5)


@pytest.mark.slow
def test_the_other_verbs(server: ServerProcess) -> None:
    models = run(server.url, "models")
    assert models.returncode == 0, models.stderr
    assert "speed [m/s]" in models.stdout
    assert "broken" in models.stdout
    parsed = run(server.url, "parse", "kg*m^2/s^2")
    assert "length^2*mass*time^-2" in parsed.stdout
    converted = run(server.url, "convert", "20", "degC", "K")
    assert converted.stdout.split() == ["293.15", "K"]
    assert run(server.url, "ready").stdout.strip() == "ready"


@pytest.mark.slow
def test_refusals_and_exit_codes(server: ServerProcess) -> None:
    wrong = run(server.url, "predict", "projectile", "speed=72kg", "angle=45deg", "g=9.81m/s^2")
    assert wrong.returncode == ExitCode.REFUSED
    assert wrong.stderr.startswith("422 dimension-mismatch: input 'speed'")
    no_key = run(server.url, "models", key="")
    assert no_key.returncode == ExitCode.REFUSED
    assert no_key.stderr.startswith("401 unauthorized")
    no_unit = run(server.url, "predict", "projectile", "speed=72")
    assert no_unit.returncode == ExitCode.CONFIG
    assert "needs its unit" in no_unit.stderr
    nobody = run(f"http://127.0.0.1:{free_port()}", "ready")
    assert nobody.returncode == ExitCode.NO_ANSWER
    assert "could not connect" in nobody.stderr
