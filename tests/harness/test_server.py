"""A server's environment, and a real server started and stopped through harness/: gunicorn
with the embedded default models, ready on the Open Inference Protocol's health route."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from harness.ports import free_port
from harness.procs import rss_mib
from harness.server import NotReadyError, answers_ready, server_env, serving, start


def test_the_environment_gives_each_server_its_own_folders(tmp_path: Path) -> None:
    env = server_env(tmp_path / "a", 8123, workers=3)
    assert {k: env[k] for k in ("HOST", "PORT", "WEB_CONCURRENCY")} == {
        "HOST": "127.0.0.1",
        "PORT": "8123",
        "WEB_CONCURRENCY": "3",
    }
    for name, sub in (
        ("HOME", "home"),
        ("TMPDIR", "tmp"),
        ("PROMETHEUS_MULTIPROC_DIR", "prometheus"),
    ):
        assert env[name] == str(tmp_path / "a" / sub)
        assert (tmp_path / "a" / sub).is_dir()


@pytest.mark.parametrize(
    ("inherited", "repository", "env", "expected"),
    [
        (None, None, {}, None),  # the embedded default models
        ("/elsewhere", None, {}, None),  # this process's setting does not leak in
        ("/elsewhere", Path("/models"), {}, "/models"),
        (None, Path("/models"), {"MODEL_REPOSITORY": "/mine"}, "/mine"),  # env wins
    ],
)
def test_the_model_repository_is_the_one_asked_for(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inherited: str | None,
    repository: Path | None,
    env: dict[str, str],
    expected: str | None,
) -> None:
    if inherited is None:
        monkeypatch.delenv("MODEL_REPOSITORY", raising=False)
    else:
        monkeypatch.setenv("MODEL_REPOSITORY", inherited)
    found = server_env(tmp_path, 8123, repository=repository, env=env)
    assert found.get("MODEL_REPOSITORY") == expected


def test_a_server_that_exits_is_not_ready_and_says_so(tmp_path: Path) -> None:
    env = server_env(tmp_path, free_port())
    server = start(tmp_path, env, argv=[sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NotReadyError, match="exited with 3"):
        server.wait_ready()
    assert server.stop() == 3


@pytest.mark.slow
def test_a_started_server_is_ready_with_its_workers_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    root = tmp_path / "server"
    env = server_env(root, port, workers=2)
    log = tmp_path / "server.log"
    with serving(start(root, env, log=log, follow=True), workers=2) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert httpx.get(server.url + "/v2/health/ready", timeout=10).status_code == 200
        workers = server.workers()
        assert len(workers) == 2
        assert set(server.pids()) == {server.pid, *workers}
        assert rss_mib(server.pids()) > rss_mib([server.pid])
        assert server.ready_s > 0
        assert server.wait_for_log("Booting worker")
    assert server.proc.returncode == 0  # SIGTERM: gunicorn's graceful stop
    assert not answers_ready(server.url)
    assert "Booting worker" in log.read_text()
