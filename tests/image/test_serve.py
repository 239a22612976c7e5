"""The image's default command serves predictions with units, in a container run with the
chart's security settings: read-only root, UID 10001, no capability, no new privileges."""

from __future__ import annotations

import httpx
import pytest

from tests.support.images import Container, engine

INPUTS: dict[str, object] = {
    "speed": {"value": 72, "unit": "km/h"},
    "angle": {"value": [30, 45], "unit": "deg"},
    "g": {"value": 9.80665, "unit": "m/s^2"},
}
OUTPUTS = {"range": "m", "flight_time": "ms"}
PROJECTILE = {"model": "projectile", "inputs": INPUTS, "outputs": OUTPUTS}


def test_the_server_answers_a_prediction_with_units(server: Container) -> None:
    box = server
    answer = httpx.post(box.url("/predict"), json=PROJECTILE, timeout=30)
    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    # 72 km/h = 20 m/s: range v²/g·sin(2θ), flight 2v/g·sin(θ)
    assert outputs["range"]["unit"] == "m"
    assert outputs["range"]["value"][1] == pytest.approx(400 / 9.80665, rel=1e-5)
    assert outputs["flight_time"]["unit"] == "ms"
    assert outputs["flight_time"]["value"][0] == pytest.approx(2000 * 20 / 9.80665 / 2, rel=1e-5)
    assert "device: cpu (image built for the CPU)" in box.logs()


def test_a_refusal_names_the_unit_expected_and_received(server: Container) -> None:
    box = server
    body = {**PROJECTILE, "inputs": {**INPUTS, "speed": {"value": 1, "unit": "kg"}}}
    answer = httpx.post(box.url("/predict"), json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["input"], problem["expected_dimension"]) == ("speed", "length*time^-1")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["id", "-u"], "10001"),
        (["id", "-g"], "10001"),
        (["sh", "-c", "grep ^CapEff /proc/1/status"], "CapEff:\t0000000000000000"),
        (["sh", "-c", "grep ^NoNewPrivs /proc/1/status"], "NoNewPrivs:\t1"),
        (["sh", "-c", "touch /opt/venv/x 2>&1 || true"], "Read-only file system"),
        (["sh", "-c", "touch /home/app/x /tmp/x && echo writable"], "writable"),
    ],
    ids=["uid", "gid", "no-capability", "no-new-privileges", "read-only-root", "writable-volumes"],
)
def test_the_server_runs_as_the_chart_runs_it(
    server: Container, command: list[str], expected: str
) -> None:
    box = server
    result = engine("exec", box.name, *command)
    assert expected in result.stdout + result.stderr
