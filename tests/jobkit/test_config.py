"""Reading a job's config: every refusal is a ConfigError worded one way, ``config PATH:`` or
``environment:``, then where (a key path, a variable's name), what was expected and what was
received. The kinds here are the test's own: jobkit knows none."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobkit.config import MAX_CONFIG_BYTES, Strict, load_document, load_environment
from jobkit.errors import ConfigError
from jobkit.exits import ExitCode


class Sweep(Strict):
    kind: Literal["sweep"]
    values: dict[str, int] = Field(default_factory=dict)


class Study(Strict):
    kind: Literal["study"]
    samples: int = Field(ge=1)


KINDS: TypeAdapter[Sweep | Study] = TypeAdapter(
    Annotated[Sweep | Study, Field(discriminator="kind")]
)

REFUSALS = [
    ("kind: sweep\nvalue: 1\n", "value: Extra inputs are not permitted (received 1)"),
    ("kind: study\nsamples: 0\n", "samples: Input should be greater than or equal to 1"),
    # a key named like a kind stays in the location: only the document's own tag is dropped
    ("kind: sweep\nvalues: {study: x}\n", "values.study: Input should be a valid integer"),
    ("kind: census\n", "the document: Input tag 'census' found using 'kind' does not match"),
    ("samples: 2\n", "the document: Unable to extract tag using discriminator 'kind'"),
    ("- 1\n", "expected a mapping with a 'kind' key, received list"),
    ("kind: [\n", "not valid YAML: "),
]  # fmt: skip


@pytest.mark.parametrize(("text", "says"), REFUSALS, ids=[r[1][:24] for r in REFUSALS])
def test_a_refused_file_says_where_what_and_received(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_document(path, KINDS)
    assert refused.value.message.startswith(f"config {path}: {says}")
    assert refused.value.code == ExitCode.CONFIG


def test_a_missing_or_oversized_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read it: No such file or directory"):
        load_document(tmp_path / "absent.yaml", KINDS)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match=f"expected at most {MAX_CONFIG_BYTES}"):
        load_document(big, KINDS)


def test_a_valid_file_is_its_kinds_model(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("kind: study\nsamples: 3\n", encoding="utf-8")
    assert load_document(path, KINDS) == Study(kind="study", samples=3)


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", frozen=True)

    count: int = 1


def test_a_refused_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_COUNT", "many")
    with pytest.raises(ConfigError) as refused:
        load_environment(DemoSettings)
    assert refused.value.message == (
        "environment: DEMO_COUNT: Input should be a valid integer, unable to parse string as "
        "an integer (received 'many')"
    )
    monkeypatch.setenv("DEMO_COUNT", "4")
    assert load_environment(DemoSettings).count == 4
