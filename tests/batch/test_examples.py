"""Every example config validates; the README's batch path runs as written; the docs list
every setting and exit code the code has."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from batch.config import BatchSettings
from jobkit.exits import rows_for
from tests.support.jobs import BATCH
from tests.support.paths import REPO

cli = BATCH.cli

EXAMPLES = sorted((REPO / "examples" / "batch").glob("*.yaml"))
DOC = (REPO / "docs" / "batch.md").read_text()


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_validates(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)  # examples use paths relative to the repository
    assert cli("validate", config) == 0
    assert capsys.readouterr().out.startswith("valid: ")


def test_there_is_an_example_of_every_kind() -> None:
    kinds = {re.search(r"^kind: (\w+)", p.read_text(), re.M).group(1) for p in EXAMPLES}  # type: ignore[union-attr]
    assert kinds == {"predict", "sweep", "montecarlo", "pi"}


def test_the_docs_table_lists_every_environment_variable() -> None:
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", DOC, re.M))
    names = {
        (
            field.validation_alias if isinstance(field.validation_alias, str) else f"BATCH_{name}"
        ).upper()
        for name, field in BatchSettings.model_fields.items()
    }
    assert rows == names


def test_the_docs_table_lists_every_exit_code() -> None:
    rows = {int(code) for code in re.findall(r"^\| (\d+) \| ", DOC, re.M)}
    assert rows == {int(row.code) for row in rows_for("batch")}


def test_the_readme_batch_path_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Batch jobs", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    commands = block.strip().splitlines()
    programs = [c.split()[0] for c in commands]
    assert programs == [".venv/bin/dimtensor-batch"] * 3 + [".venv/bin/python"]
    for command in commands[:3]:
        assert cli(*shlex.split(command)[1:]) == 0
    code = shlex.split(commands[3])[2]
    capsys.readouterr()
    exec(code, {})  # noqa: S102 - the README's own one-liner
    printed = capsys.readouterr().out
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    assert printed == shown
