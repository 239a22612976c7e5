"""Settings come from the environment, and the documentation lists every one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented_with_its_default():
    text = DOC.read_text()
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        assert f"| `{name.upper()}` | {default} |" in text, name


@pytest.mark.parametrize(("value", "expected"), [("", None), ("  ", None), ("/m", Path("/m"))])
def test_a_blank_metrics_directory_is_unset(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: Path | None
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", value)
    assert Settings().prometheus_multiproc_dir == expected


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("DEFAULT_MODEL", "")
    s = Settings()
    assert (s.port, s.web_concurrency, s.bind) == (9001, 3, "0.0.0.0:9001")
    assert not s.default_model


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PORT", "0"),
        ("PORT", "http"),
        ("WEB_CONCURRENCY", "0"),
        ("MAX_UNIT_LENGTH", "1"),
        ("REQUEST_TIMEOUT", "inf"),
        ("ACCESS_LOG_FLUSH_SECONDS", "nan"),
    ],
)
def test_bad_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, var: str, value: str):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=var.lower()):
        Settings()
