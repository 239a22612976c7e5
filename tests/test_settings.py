"""Settings come from the environment, bad values are refused at start naming the variable,
and the documentation lists every one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.ports import free_port
from harness.procs import WAIT_SECONDS
from harness.server import SERVE, server_env
from service.server_settings import ServerSettings, SettingsError
from service.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented_rows() -> dict[str, object]:
    """Each variable of both classes and its default."""
    rows: dict[str, object] = {k: d for k, (d, _) in ServerSettings.documented().items()}
    rows.update({name.upper(): f.default for name, f in Settings.model_fields.items()})
    return rows


def test_every_setting_is_documented_with_its_default():
    text = DOC.read_text()
    for name, default in documented_rows().items():
        shown = "unset" if default is None else f"`{default}`"
        assert f"| `{name}` | {shown} |" in text, name


def test_no_variable_is_read_by_both_classes():
    server = set(ServerSettings.documented())
    assert server.isdisjoint(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize(("value", "expected"), [("", None), ("  ", None), ("/m", Path("/m"))])
def test_a_blank_metrics_directory_is_unset(value: str, expected: Path | None):
    env = {"PROMETHEUS_MULTIPROC_DIR": value}
    assert ServerSettings.from_environ(env).prometheus_multiproc_dir == expected


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("DEFAULT_MODEL", "")
    s = Settings()
    assert (s.server.port, s.server.web_concurrency, s.server.bind) == (9001, 3, "0.0.0.0:9001")
    assert s.server.log_level == "debug"
    assert not s.default_model


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "0"}, "PORT: expected a value from 1 to 65535, received 0"),
        ({"PORT": "http"}, "PORT: expected a whole number, received 'http'"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY: expected a value from 1 to 64, received 0"),
        ({"TIMEOUT": "1.5"}, "TIMEOUT: expected a whole number, received '1.5'"),
        ({"DRAIN_IDLE_SECONDS": "nan"}, "DRAIN_IDLE_SECONDS: expected a finite number"),
        ({"DRAIN_IDLE_SECONDS": "-1"}, "DRAIN_IDLE_SECONDS: expected at least 0, received -1.0"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: expected one of critical, error, warning, info"),
        (
            {"PORT": "x", "KEEPALIVE": "-1"},
            "PORT: expected a whole number, received 'x'; KEEPALIVE: expected at least 0",
        ),
    ],
)
def test_bad_server_values_are_refused_naming_each_variable(env: dict[str, str], message: str):
    with pytest.raises(SettingsError) as caught:
        ServerSettings.from_environ(env)
    assert message in str(caught.value)


def test_values_given_in_code_are_held_to_the_same_bounds():
    with pytest.raises(SettingsError, match="GRACEFUL_TIMEOUT: expected at least 1"):
        ServerSettings(graceful_timeout=0)


@pytest.mark.parametrize(
    ("var", "value"),
    [("MAX_UNIT_LENGTH", "1"), ("REQUEST_TIMEOUT", "inf"), ("ACCESS_LOG_FLUSH_SECONDS", "nan")],
)
def test_bad_app_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, var: str, value: str):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=var.lower()):
        Settings()


def test_the_server_refuses_to_start_on_a_bad_value(tmp_path: Path):
    """The real master, not only the class: it exits at once, with the reason on stderr."""
    env = server_env(tmp_path, free_port(), workers=1, env={"TIMEOUT": "soon"})
    done = subprocess.run(
        SERVE, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False
    )
    assert done.returncode != 0
    assert "TIMEOUT: expected a whole number, received 'soon'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_setting_given_to_the_wrong_class_is_refused_not_ignored():
    """``Settings(log_level=...)`` would otherwise do nothing: the level is the process's."""
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="warning")  # type: ignore[call-arg]
