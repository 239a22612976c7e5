"""The `helm test` pod: its shape, and its script run here against a stand-in server.

The script is taken from the rendered Pod and run with this interpreter (the image's python
is 3.11 too), so what is tested is exactly what the cluster would run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.deploy.conftest import Doc, Render, containers

EXPECTED_RANGE = 20.0**2 / 9.80665  # 72 km/h, 45 deg, standard gravity


class FakeServer(BaseHTTPRequestHandler):
    """/readyz and /predict as the contract describes them; records what it saw."""

    range_value: ClassVar[float] = EXPECTED_RANGE
    required_key: ClassVar[str | None] = None
    ready_after: ClassVar[int] = 0
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/readyz":
            cls = type(self)
            cls.ready_after -= 1
            self._send(200 if cls.ready_after < 0 else 503, {"ready": cls.ready_after < 0})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "body": body, "auth": self.headers["Authorization"]}
        )
        key = type(self).required_key
        if key is not None and self.headers["Authorization"] != f"Bearer {key}":
            self._send(401, {"error": "missing or wrong API key"})
            return
        self._send(
            200,
            {
                "model": "projectile",
                "version": "1",
                "outputs": {
                    "range": {"value": type(self).range_value, "unit": "m", "dimension": "length"}
                },
            },
        )


@pytest.fixture
def server() -> Iterator[str]:
    FakeServer.range_value = EXPECTED_RANGE
    FakeServer.required_key = None
    FakeServer.ready_after = 0
    FakeServer.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def helm_test_pod(render: Render) -> Doc:
    return next(d for d in render.of_kind("Pod") if "test" in d["metadata"]["name"])


def run_script(pod: Doc, base_url: str, keys_file: Path | None) -> subprocess.CompletedProcess[str]:
    container = pod["spec"]["containers"][0]
    assert container["command"][:2] == ["python", "-c"]
    env = {e["name"]: e["value"] for e in container["env"]}
    env["BASE_URL"] = base_url
    env["API_KEYS_FILE"] = str(keys_file) if keys_file else ""
    return subprocess.run(
        [sys.executable, "-c", container["command"][2]],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


def test_shape(rendered: dict[str, Render]) -> None:
    for scenario, render in rendered.items():
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


def test_passes_against_a_correct_server(rendered: dict[str, Render], server: str) -> None:
    FakeServer.ready_after = 1  # one 503 first: the script waits for /readyz
    result = run_script(helm_test_pod(rendered["default"]), server, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: range = 40.788" in result.stdout
    (request,) = FakeServer.seen
    assert request["path"] == "/predict"
    assert request["body"]["inputs"]["speed"] == {"value": 72, "unit": "km/h"}
    assert request["auth"] is None


def test_fails_on_a_wrong_number(rendered: dict[str, Render], server: str) -> None:
    FakeServer.range_value = EXPECTED_RANGE * (1 + 1e-5)
    result = run_script(helm_test_pod(rendered["default"]), server, None)
    assert result.returncode != 0
    assert "AssertionError" in result.stderr


def test_sends_the_first_key_when_auth_is_on(
    rendered: dict[str, Render], server: str, tmp_path: Path
) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text("\nci-test-key-0000000000000001\nci-test-key-0000000000000002\n")
    FakeServer.required_key = "ci-test-key-0000000000000001"
    result = run_script(helm_test_pod(rendered["02-auth-chart-secret"]), server, keys)
    assert result.returncode == 0, result.stdout + result.stderr
    assert FakeServer.seen[0]["auth"] == "Bearer ci-test-key-0000000000000001"


def test_fails_without_the_key(rendered: dict[str, Render], server: str) -> None:
    FakeServer.required_key = "ci-test-key-0000000000000001"
    result = run_script(helm_test_pod(rendered["default"]), server, None)
    assert result.returncode != 0
    assert "401" in result.stderr
