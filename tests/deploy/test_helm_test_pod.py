"""The `helm test` pod: its shape, and its script run here against the real server.

The script is taken from the rendered Pod and run with this interpreter (the image's python
is 3.11 too), against ``python -m service`` (gunicorn, the app, the embedded models) started
as the server tests start it, so what is tested is exactly what the cluster would run
against exactly what the chart deploys. The failure cases use the real server too: a model
repository whose ``projectile`` declares the wrong output unit (the server then answers
200 with a wrong number), and the real authentication refusing a missing key.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from harness.ports import free_port
from tests.support.chart import API_SCENARIOS, Render
from tests.support.k8s import Doc, containers
from tests.support.models import projectile_manifest, write_model
from tests.support.servers import LOG_WAIT_SECONDS, ServerProcess, run_server

EXPECTED_RANGE = 20.0**2 / 9.80665  # 72 km/h, 45 deg, standard gravity
KEY = "ci-test-key-0000000000000001"
SCRIPT_SECONDS = 180  # the script itself gives /readyz 120 s


def helm_test_pod(render: Render) -> Doc:
    return next(d for d in render.of_kind("Pod") if "test" in d["metadata"]["name"])


def script_env(pod: Doc, base_url: str, keys_file: Path | None) -> dict[str, str]:
    """The pod's environment, pointed at this machine's server and key file."""
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    env["BASE_URL"] = base_url
    env["API_KEYS_FILE"] = str(keys_file) if keys_file else ""
    env["HOME"] = os.environ.get("HOME", "/tmp")  # noqa: S108 - the pod's is /tmp too
    env["PYTHONUNBUFFERED"] = "1"  # its progress lines arrive as they are printed
    return env


def script(pod: Doc) -> str:
    container = pod["spec"]["containers"][0]
    assert container["command"][:2] == ["python", "-c"]
    text: str = container["command"][2]
    return text


def run_script(pod: Doc, base_url: str, keys_file: Path | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script(pod)],
        capture_output=True,
        text=True,
        check=False,
        env=script_env(pod, base_url, keys_file),
        timeout=SCRIPT_SECONDS,
    )


def passed_range(stdout: str) -> float:
    """The range the script reported on its PASS line (the model computes in float32)."""
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("PASS: range = ")]
    return float(line.removeprefix("PASS: range = ").removesuffix(" m"))


def served(server: ServerProcess, after: int = 0) -> dict[str, object]:
    """The server's access line for the script's POST /predict (written within ~1 s)."""
    entry: dict[str, object] = json.loads(server.wait_for_log("POST /predict", after=after))
    assert entry["logger"] == "service.access"
    return entry


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server with authentication on; the key file the chart's Secret would hold
    (first line blank, two keys: the script must send the first non-blank one)."""
    tmp = tmp_path_factory.mktemp("helm-auth")
    keys = tmp / "api-keys"
    keys.write_text(f"\n{KEY}\nci-test-key-0000000000000002\n")
    with run_server(tmp, workers=1, AUTH_ENABLED="true", API_KEYS_FILE=str(keys)) as server:
        yield server


@pytest.fixture(scope="module")
def keys_file(auth_server: ServerProcess) -> Path:
    return Path(auth_server.env["API_KEYS_FILE"])


def test_shape(rendered: dict[str, Render]) -> None:
    for scenario, render in rendered.items():
        if scenario not in API_SCENARIOS:  # nothing to test without the API tier
            assert not render.of_kind("Pod"), scenario
            continue
        pod = helm_test_pod(render)
        annotations = pod["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test", scenario
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        assert pod["spec"]["restartPolicy"] == "Never"
        service = render.one("Service")
        base = pod["spec"]["containers"][0]["env"][0]
        assert base["name"] == "BASE_URL"
        assert base["value"] == (
            f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:"
            f"{service['spec']['ports'][0]['port']}"
        )
        images = {c["image"] for c in containers(pod["spec"])}
        assert images == {
            render.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        }


def test_auth_scenarios_mount_the_key(rendered: dict[str, Render]) -> None:
    for scenario in ("02-auth-chart-secret", "03-auth-existing-secret"):
        pod = helm_test_pod(rendered[scenario])
        deployment = rendered[scenario].one("Deployment")["spec"]["template"]["spec"]
        auth = next(v for v in deployment["volumes"] if v["name"] == "auth")
        assert next(v for v in pod["spec"]["volumes"] if v["name"] == "auth") == auth
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        mount = next(
            m["mountPath"]
            for m in pod["spec"]["containers"][0]["volumeMounts"]
            if m["name"] == "auth"
        )
        assert env["API_KEYS_FILE"] == f"{mount}/api-keys"


class Lines(threading.Thread):
    """Reads a process's output line by line; ``first(text)`` waits for a line as an event."""

    def __init__(self, source: IO[str]) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def run(self) -> None:
        for line in iter(self.source.readline, ""):
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def first(self, text: str) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: any(text in ln for ln in self.lines) or not self.is_alive(),
                timeout=LOG_WAIT_SECONDS,
            ) and any(text in ln for ln in self.lines)


def test_waits_for_the_server_then_passes(rendered: dict[str, Render], tmp_path: Path) -> None:
    """Started before the server exists (as helm may start it during a rollout): the script
    waits for /readyz, then the real server answers the README's example correctly."""
    port = free_port()
    pod = helm_test_pod(rendered["default"])
    with subprocess.Popen(
        [sys.executable, "-c", script(pod)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(pod, f"http://127.0.0.1:{port}", None),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = Lines(proc.stdout)
        out.start()
        try:
            assert out.first("waiting for /readyz:"), "".join(out.lines)  # nothing listens yet
            with run_server(tmp_path, workers=1, port=port) as server:
                returncode = proc.wait(timeout=SCRIPT_SECONDS)
                out.join(timeout=30)
                stdout, stderr = "".join(out.lines), proc.stderr.read()
                assert returncode == 0, stdout + stderr
                line = served(server)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert passed_range(stdout) == pytest.approx(EXPECTED_RANGE, rel=1e-6)
    assert (line["path"], line["status"], line["model"]) == ("/predict", 200, "projectile")


def test_fails_on_a_wrong_number(rendered: dict[str, Render], tmp_path: Path) -> None:
    """A real server that answers 200 with a wrong range: its projectile model declares
    its range in feet while it computes metres, so the served number is off by 0.3048."""
    manifest = projectile_manifest(name="projectile")
    manifest["outputs"][0] = {"name": "range", "unit": "ft"}
    write_model(tmp_path / "models", manifest)
    with run_server(tmp_path, workers=1, MODEL_REPOSITORY=str(tmp_path / "models")) as server:
        result = run_script(helm_test_pod(rendered["default"]), server.url, None)
    assert result.returncode != 0
    assert "POST /predict -> 200" in result.stdout  # the server answered: the number is wrong
    failure = result.stderr.strip().splitlines()[-1]
    assert failure.startswith("AssertionError: "), result.stderr
    got, expected = ast.literal_eval(failure.removeprefix("AssertionError: "))
    assert expected == pytest.approx(EXPECTED_RANGE, rel=1e-12)
    assert got == pytest.approx(EXPECTED_RANGE * 0.3048, rel=1e-6)  # feet read as metres


def test_sends_the_first_key_when_auth_is_on(
    rendered: dict[str, Render], auth_server: ServerProcess, keys_file: Path
) -> None:
    """The pod reads the same key file as the server (the chart mounts one Secret)."""
    mark = auth_server.log_mark()
    result = run_script(helm_test_pod(rendered["02-auth-chart-secret"]), auth_server.url, keys_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed_range(result.stdout) == pytest.approx(EXPECTED_RANGE, rel=1e-6)
    assert served(auth_server, after=mark)["status"] == 200


# (key file, whether the pod's key is the server's): the pod sends the first key the server
# would read, not any key that works; comment lines are skipped as the server skips them.
KEY_FILES = [
    ("\nci-test-key-unknown-to-the-server\n{key}\n", False),
    ("# rotated 2026-11\n\n  # owner: ops\n{key}\n", True),
]


@pytest.mark.parametrize(("text", "passes"), KEY_FILES)
def test_the_first_key_the_server_reads_is_the_one_sent(
    rendered: dict[str, Render], auth_server: ServerProcess, tmp_path: Path, text: str, passes: bool
) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(text.format(key=KEY))
    result = run_script(helm_test_pod(rendered["02-auth-chart-secret"]), auth_server.url, keys)
    if passes:
        assert result.returncode == 0, result.stdout + result.stderr
        assert passed_range(result.stdout) == pytest.approx(EXPECTED_RANGE, rel=1e-6)
    else:
        assert result.returncode != 0
        assert "401" in result.stderr


def test_fails_without_the_key(rendered: dict[str, Render], auth_server: ServerProcess) -> None:
    result = run_script(helm_test_pod(rendered["default"]), auth_server.url, None)
    assert result.returncode != 0
    assert "401" in result.stderr
