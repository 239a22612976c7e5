"""Every refused config exits with its documented code, says what was expected and what was
received, and writes nothing: a table of configs, environments and arguments."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from jobkit.exits import ExitCode
from tests.support.jobs import BATCH, MONTE_CARLO, PROJECTILE_SWEEP

cli, write_config = BATCH.cli, BATCH.write_config


def _sweep(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PROJECTILE_SWEEP)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return doc


# (id, config, environment, extra arguments, expected fragments of the message)
REFUSED_CONFIGS: list[tuple[str, dict[str, Any], dict[str, str], list[str], list[str]]] = [
    ("unknown kind", {**PROJECTILE_SWEEP, "kind": "fit"}, {}, [], ["kind", "'fit'", "sweep"]),
    ("unknown key", {**PROJECTILE_SWEEP, "paramters": {}}, {}, [], ["paramters", "not permitted"]),
    (
        "unknown unit",
        _sweep(parameters__speed__unit="furlong/fortnite"),
        {},
        [],
        ["input 'speed'", "fortnite"],
    ),
    (
        "dimension mismatch of an input",
        _sweep(parameters__speed__unit="kg"),
        {},
        [],
        ["input 'speed'", "length*time^-1", "'kg'", "mass"],
    ),
    (
        "dimension mismatch of an output",
        _sweep(outputs={"range": "s"}),
        {},
        [],
        ["output 'range'", "length", "'s'", "time"],
    ),
    ("unknown model", _sweep(model="catapult"), {}, [], ["'catapult'", "projectile"]),
    ("unknown version", {**PROJECTILE_SWEEP, "version": 9}, {}, [], ["version '9'", "['1']"]),
    ("missing input", _sweep(parameters__g=None), {}, [], ["needs input 'g'", "speed"]),
    (
        "parameter the model lacks",
        _sweep(parameters__mass={"unit": "kg", "value": 1}),
        {},
        [],
        ["no input 'mass'", "['speed', 'angle', 'g']"],
    ),
    ("unknown output", _sweep(outputs={"height": "m"}), {}, [], ["no output 'height'"]),
    (
        "empty linspace",
        _sweep(parameters__speed={"unit": "m/s", "linspace": [1, 2, 0]}),
        {},
        [],
        ["parameters.speed.linspace", "greater than or equal to 1", "0"],
    ),
    (
        "logspace through zero",
        _sweep(parameters__speed={"unit": "m/s", "logspace": [0, 10, 3]}),
        {},
        [],
        ["logspace needs start > 0", "[0.0, 10.0, 3]"],
    ),
    (
        "two value sources",
        _sweep(parameters__g={"unit": "m/s^2", "value": 9.8, "values": [9.8]}),
        {},
        [],
        ["exactly one of", "['value', 'values']"],
    ),
    (
        "a distribution in a sweep",
        _sweep(parameters__g={"unit": "m/s^2", "normal": {"mean": 9.8, "std": 0.1}}),
        {},
        [],
        ["parameter 'g'", "a sweep takes", "received normal"],
    ),
    (
        "a grid in a study",
        {
            **MONTE_CARLO,
            "parameters": {**MONTE_CARLO["parameters"], "g": {"unit": "m/s^2", "values": [9.8]}},
        },
        {},
        [],
        ["a montecarlo takes", "received values"],
    ),
    (
        "uniform the wrong way round",
        {
            **MONTE_CARLO,
            "parameters": {
                **MONTE_CARLO["parameters"],
                "angle": {"unit": "deg", "uniform": {"low": 5, "high": 1}},
            },
        },
        {},
        [],
        ["low < high", "low=5.0, high=1.0"],
    ),
    (
        "no samples",
        {**MONTE_CARLO, "samples": 0},
        {},
        [],
        ["samples", "greater than or equal to 1"],
    ),
    (
        "NaN in a config",
        _sweep(parameters__g={"unit": "m/s^2", "value": float("nan")}),
        {},
        [],
        ["parameters.g.value", "finite"],
    ),
    (
        "empty completion index (a Job without completionMode: Indexed)",
        PROJECTILE_SWEEP,
        {"JOB_COMPLETION_INDEX": ""},
        [],
        ["JOB_COMPLETION_INDEX is ''", "completionMode: Indexed"],
    ),
    (
        "completion index beyond the shard count",
        PROJECTILE_SWEEP,
        {"JOB_COMPLETION_INDEX": "4", "BATCH_SHARDS": "4"},
        [],
        ["JOB_COMPLETION_INDEX is 4", "0 to 3 for 4 shards"],
    ),
    (
        "shard beyond the count",
        PROJECTILE_SWEEP,
        {},
        ["--shard", "3", "--shards", "3"],
        ["--shard is 3", "0 to 2"],
    ),
    (
        "a device other than auto, cpu or cuda",
        PROJECTILE_SWEEP,
        {"MODEL_DEVICE": "gpu"},
        [],
        ["MODEL_DEVICE", "'auto', 'cpu' or 'cuda'", "'gpu'"],
    ),
    (
        "malformed BATCH_SHARDS",
        PROJECTILE_SWEEP,
        {"BATCH_SHARDS": "many"},
        [],
        ["BATCH_SHARDS", "'many'"],
    ),
    (
        "pi with both sources",
        {"kind": "pi", "variables": {"F": "N"}, "equations": {"domain": "optics"}},
        {},
        [],
        ["exactly one of variables or equations"],
    ),
    (
        "pi with an unknown unit",
        {"kind": "pi", "variables": {"F": "N", "x": "bananas"}},
        {},
        [],
        ["variables: 'x'", "bananas"],
    ),
    (
        "pi of an unknown equation",
        {"kind": "pi", "equations": {"name": "Ohm's Lore"}},
        {},
        [],
        ['no equation "Ohm\'s Lore"'],
    ),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(
    ("config", "env", "args", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED_CONFIGS],
)
def test_a_refused_config_exits_2_names_the_problem_and_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    config: dict[str, Any],
    env: dict[str, str],
    args: list[str],
    fragments: list[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path, config)
    assert cli(command, path, *args) == ExitCode.CONFIG
    message = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "out").exists()


def test_a_config_that_is_not_yaml_or_not_a_mapping_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [sweep\n")
    assert cli("run", bad) == ExitCode.CONFIG
    assert "not valid YAML" in capsys.readouterr().err
    bad.write_text("- kind: sweep\n")
    assert cli("run", bad) == ExitCode.CONFIG
    assert "expected a mapping with a 'kind' key, received list" in capsys.readouterr().err
    assert cli("run", tmp_path / "absent.yaml") == ExitCode.CONFIG
    assert "cannot read it" in capsys.readouterr().err


def test_an_output_folder_of_another_config_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("run", write_config(tmp_path, PROJECTILE_SWEEP)) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    other = write_config(tmp_path, _sweep(parameters__g={"unit": "m/s^2", "value": 1.62}))
    assert cli("run", other) == ExitCode.CONFIG
    assert "written by another run: its config_sha256" in capsys.readouterr().err
    assert cli("run", write_config(tmp_path, PROJECTILE_SWEEP), "--shards", "2") == ExitCode.CONFIG
    assert "split 1 ways; this run is split 2 ways" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROJECTILE_SWEEP)
    argument_lists: list[list[str | Path]] = [
        ["run", path, "--shards", "0"],
        ["run", path, "--shard", "-1"],
        ["explode", path],
    ]
    for args in argument_lists:
        with pytest.raises(SystemExit) as exit_info:
            cli(*args)
        assert exit_info.value.code == ExitCode.CONFIG
    assert not (tmp_path / "out").exists()
