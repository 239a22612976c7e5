"""The API pods' shutdown timeline: the chart's preStop sleep and grace period and the
server's own timeouts, read from one render, hold together.

A pod that is deleted (a rolling update, a scale-in) goes through, from the deletion on:

1. ``preStop`` sleeps ``api.preStopSleepSeconds`` while the endpoints controllers take the pod
   out of the Service: new connections stop coming, kept ones still bring requests;
2. SIGTERM reaches gunicorn, which forwards it to the workers and SIGKILLs them at
   ``GRACEFUL_TIMEOUT``;
3. each worker drains: it keeps an idle connection ``DRAIN_IDLE_SECONDS`` for a last
   request, and gives up on its connections at its own deadline
   (``service.worker.drain_bound``, a second under ``GRACEFUL_TIMEOUT``);
4. kubelet SIGKILLs the pod at ``terminationGracePeriodSeconds``.

Each step must end before the next one's deadline, or requests are cut: the idle grace
within the worker's deadline, the worker's deadline within gunicorn's, gunicorn's within
kubelet's. The server reads the rendered ConfigMap with its own ``ServerSettings``, so a
misspelt or out-of-range variable fails here too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.server_settings import ServerSettings
from service.worker import drain_bound
from tests.support.chart import API_SCENARIOS, Render, helm_template
from tests.support.k8s import Doc, load_docs

SHUTDOWN_ENV = {"GRACEFUL_TIMEOUT", "KEEPALIVE", "DRAIN_IDLE_SECONDS"}


def timeline(docs: list[Doc]) -> tuple[ServerSettings, float, float]:
    """(the server's settings from the API ConfigMap, the preStop sleep, the grace period)."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    name = container["envFrom"][0]["configMapRef"]["name"]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name)
    env: dict[str, str] = config["data"]
    assert env.keys() >= SHUTDOWN_ENV
    settings = ServerSettings.from_environ(env)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    return settings, pre_stop, spec["terminationGracePeriodSeconds"]


def check_timeline(settings: ServerSettings, pre_stop: float, grace: float) -> None:
    worker_deadline = drain_bound(settings.graceful_timeout)
    assert settings.drain_idle_seconds <= worker_deadline, "idle grace past the drain's end"
    assert worker_deadline <= settings.graceful_timeout, "the drain outlives gunicorn's SIGKILL"
    assert pre_stop > 0, "no time for the endpoints to drop the pod before SIGTERM"
    assert pre_stop + settings.graceful_timeout < grace, "kubelet kills before gunicorn ends"


@pytest.mark.parametrize("scenario", API_SCENARIOS)
def test_shutdown_timeline_holds_together(scenario: str, rendered: dict[str, Render]) -> None:
    check_timeline(*timeline(rendered[scenario].docs))


@pytest.mark.parametrize(
    ("values", "grace"),
    [
        ("api: {config: {gracefulTimeout: 5, drainIdleSeconds: 4}}", 20),  # idle grace at the edge
        ("api: {config: {gracefulTimeout: 60}, preStopSleepSeconds: 10}", 80),
        ("api: {config: {drainIdleSeconds: 0}, terminationGracePeriodSeconds: 31}", 31),
    ],
)
def test_values_that_move_the_timeline_keep_it(values: str, grace: int, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(values + "\n", encoding="utf-8")
    result = helm_template([path])
    assert result.returncode == 0, result.stderr
    settings, pre_stop, rendered_grace = timeline(load_docs(result.stdout))
    assert rendered_grace == grace
    check_timeline(settings, pre_stop, rendered_grace)
