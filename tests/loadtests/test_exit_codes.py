"""Every exit code a command of the project returns is a row of the one table (jobkit.exits),
so 3 or 4 never means one thing here and another there.

The locustfile runs alone in the stock Locust image (a ConfigMap), so it carries its verdict
numbers as literals: they must be the table's. Every other command takes them from jobkit and
defines no number of its own. Read with ``ast``: importing Locust would patch this process."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jobkit.exits import ExitCode, rows_for
from loadtests.local import LOCUSTFILE
from tests.support.paths import REPO

COMMANDS = [
    "batch/cli.py",
    "training/cli.py",
    "container/entrypoint.py",
    "loadtests/slo.py",
    "loadtests/hpa_check.py",
    "loadtests/capacity.py",
    "service/client/_cli.py",
]


def exit_literals(path: Path) -> dict[str, int]:
    """Module-level ``EXIT_* = <int>`` assignments (tuples of them too)."""
    found: dict[str, int] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for name, value in zip(names, values, strict=False):
                if (
                    isinstance(name, ast.Name)
                    and name.id.startswith("EXIT_")
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, int)
                ):
                    found[name.id] = value.value
    return found


def test_the_locustfiles_numbers_are_the_tables() -> None:
    assert exit_literals(LOCUSTFILE) == {
        "EXIT_OBJECTIVE_MISSED": ExitCode.OBJECTIVE_MISSED,
        "EXIT_GENERATOR_SATURATED": ExitCode.GENERATOR_SATURATED,
    }
    codes = {ExitCode.OK, *(ExitCode(v) for v in exit_literals(LOCUSTFILE).values())}
    assert codes == {row.code for row in rows_for("locust")}


@pytest.mark.parametrize("path", COMMANDS)
def test_no_command_has_numbers_of_its_own(path: str) -> None:
    assert exit_literals(REPO / path) == {}
