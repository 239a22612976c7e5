"""The files that carry the exit table (:mod:`jobkit.exits`), written from it.

- the chart's ``templates/_exits.tpl``: the ``podFailurePolicy`` of the batch and training
  Jobs (``_helpers.tpl`` includes it);
- the ``podFailurePolicy`` block of each raw Job in ``deploy/examples``;
- the exit-code tables of docs/batch.md, docs/training.md and docs/loadtests.md, between
  ``<!-- exit codes: ... -->`` and ``<!-- end exit codes -->``.

``python -m jobkit.exits write`` rewrites them (``make generate``); with ``--check`` it writes
nothing, names the stale ones and exits 1. ``markdown CMD...`` and ``pod-failure-policy CMD
CONTAINER`` print one part.
tests/jobkit/test_exit_files.py fails when a file disagrees with the table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml

from jobkit.exits import COMMANDS, Command, Row, rows_for

__all__ = [
    "CHART_TEMPLATE",
    "DOCS",
    "EXAMPLES",
    "JOBS",
    "main",
    "markdown",
    "pod_failure_policy",
    "stale",
    "write",
]

ROOT = Path(__file__).resolve().parent.parent
CHART_TEMPLATE = ROOT / "deploy" / "helm" / "dimtensor" / "templates" / "_exits.tpl"
#: The Jobs a chart runs: the command in each, and its container's name.
JOBS: dict[str, tuple[Command, str]] = {
    "batch": ("batch", "batch"),
    "training": ("train", "training"),
}
#: Raw Jobs in deploy/examples and the Job (of JOBS) each one is.
EXAMPLES: dict[Path, str] = {
    ROOT / "deploy" / "examples" / "batch-job.yaml": "batch",
    ROOT / "deploy" / "examples" / "training-job.yaml": "training",
    ROOT / "deploy" / "examples" / "training-ddp.yaml": "training",
}
#: Docs pages and the commands each one's table lists.
DOCS: dict[Path, tuple[Command, ...]] = {
    ROOT / "docs" / "batch.md": ("batch",),
    ROOT / "docs" / "training.md": ("train",),
    ROOT / "docs" / "loadtests.md": ("slo", "locust", "hpa_check"),
}
DISRUPTION = {
    "action": "Ignore",
    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
}
DISRUPTION_NOTE = "preemption, eviction, drain, node loss: not counted"
_BEGIN = "<!-- exit codes: generated from jobkit/exits.py by `python -m jobkit.exits write` -->"
_END = "<!-- end exit codes -->"
_DOC_BLOCK = re.compile(re.escape(_BEGIN) + r"\n.*?" + re.escape(_END), re.S)


def pod_failure_policy(command: Command, container: str) -> dict[str, Any]:
    """A Job's ``podFailurePolicy`` for `command` in `container`: evictions first, then a
    rule for each code with an action (the first match wins); other codes are counted."""
    rules: list[dict[str, Any]] = [DISRUPTION]
    for row in _ruled(command):
        codes = {"containerName": container, "operator": "In", "values": [int(row.code)]}
        rules.append({"action": row.action, "onExitCodes": codes})
    return {"rules": rules}


def _ruled(command: Command) -> list[Row]:
    return [row for row in rows_for(command) if row.action is not None]


def _policy_yaml(command: Command, container: str, indent: int, notes: bool) -> list[str]:
    """The policy's lines (below a ``podFailurePolicy:`` key) at `indent` spaces, in the
    chart's layout; with `notes`, each rule says why on its first line."""
    policy = pod_failure_policy(command, container)
    why = [DISRUPTION_NOTE, *(f"exit {int(r.code)} ({r.name}): {r.job}" for r in _ruled(command))]
    pad = " " * indent
    lines = [f"{pad}rules:"]
    for rule, note in zip(policy["rules"], why, strict=True):
        first, *rest = _block(rule, pad + "    ")
        lines += [f"{pad}  - {first.lstrip()}" + (f"  # {note}" if notes else ""), *rest]
    return lines


def _block(value: dict[str, Any], pad: str) -> list[str]:
    """A mapping as block YAML: nested mappings and lists of mappings indented, lists of
    numbers in flow style (``values: [2]``)."""
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines += [f"{pad}{key}:", *_block(item, pad + "  ")]
        elif isinstance(item, list) and all(isinstance(x, dict) for x in item):
            lines.append(f"{pad}{key}:")
            for entry in item:
                first, *rest = _block(entry, pad + "    ")
                lines += [f"{pad}  - {first.lstrip()}", *rest]
        elif isinstance(item, list):
            lines.append(f"{pad}{key}: [{', '.join(str(x) for x in item)}]")
        else:  # a word YAML would read as a boolean stays a string
            text = f'"{item}"' if item in ("True", "False") else str(item)
            lines.append(f"{pad}{key}: {text}")
    return lines


def chart_template() -> str:
    """``_exits.tpl``: one named template per Job of JOBS, the rules of its policy."""
    out = [
        "{{/* Generated from jobkit/exits.py by `python -m jobkit.exits write`; do not edit "
        "(tests/jobkit/test_exit_files.py). */}}"
    ]
    for job, (command, container) in JOBS.items():
        out += [
            "",
            f"{{{{/* The {job} Job's podFailurePolicy: the rules the exit table gives "
            f"`dimtensor-{command}` (the first match wins; other codes are counted). */}}}}",
            f'{{{{- define "dimtensor.{job}.podFailurePolicy" -}}}}',
            *_policy_yaml(command, container, 0, notes=False),
            "{{- end -}}",
        ]
    return "\n".join(out) + "\n"


def example(text: str, job: str) -> str:
    """A raw Job manifest with its ``podFailurePolicy`` block rewritten from the table."""
    command, container = JOBS[job]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("podFailurePolicy:"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    stop = start + 1
    while stop < len(lines) and (
        not lines[stop].strip() or len(lines[stop]) - len(lines[stop].lstrip()) > indent
    ):
        stop += 1
    head = " " * indent + "podFailurePolicy:  # from jobkit/exits.py; the first match wins"
    body = _policy_yaml(command, container, indent + 2, notes=True)
    return "\n".join([*lines[:start], head, *body, *lines[stop:]]) + "\n"


def markdown(commands: Sequence[Command]) -> str:
    """The exit-code table of `commands`: with one, what its Job does with each code; with
    several, which of them exits with each."""
    rows = [row for row in _union(commands)]
    if len(commands) == 1:
        (command,) = commands
        lines = ["| code | meaning | the Job |", "|---|---|---|"]
        for row in rows:
            job = f"`{row.action}`: {row.job}" if row.action else row.job
            lines.append(f"| {int(row.code)} | {row.meaning_for(command)} | {job} |")
        return "\n".join(lines) + "\n"
    lines = ["| code | meaning | exited by |", "|---|---|---|"]
    for row in rows:
        mine = [c for c in commands if c in row.commands]
        said: dict[str, list[Command]] = {}
        for command in mine:
            said.setdefault(row.meaning_for(command), []).append(command)
        if len(said) == 1:
            (meaning,) = said
        else:
            meaning = "; ".join(f"{_names(who)}: {text}" for text, who in said.items())
        who = _names(mine)
        lines.append(f"| {int(row.code)} | {meaning} | {who} |")
    return "\n".join(lines) + "\n"


def _names(commands: Sequence[Command]) -> str:
    return ", ".join(f"`{c}`" for c in commands)


def _union(commands: Sequence[Command]) -> list[Row]:
    seen: dict[int, Row] = {}
    for command in commands:
        for row in rows_for(command):
            seen[int(row.code)] = row
    return [seen[code] for code in sorted(seen)]


def doc(text: str, commands: Sequence[Command]) -> str:
    """A docs page with its marked exit-code table rewritten."""
    block = f"{_BEGIN}\n\n{markdown(commands)}\n{_END}"
    if not _DOC_BLOCK.search(text):
        raise ValueError(f"no exit-code table marked {_BEGIN!r} ... {_END!r}")
    return _DOC_BLOCK.sub(lambda _: block, text, count=1)


def _expected() -> dict[Path, Callable[[str], str]]:
    """Each generated file and how its text follows from its current text."""
    out: dict[Path, Callable[[str], str]] = {CHART_TEMPLATE: lambda _: chart_template()}
    for path, job in EXAMPLES.items():
        out[path] = lambda text, job=job: example(text, job)  # type: ignore[misc]
    for path, commands in DOCS.items():
        out[path] = lambda text, commands=commands: doc(text, commands)  # type: ignore[misc]
    return out


def stale() -> list[Path]:
    """The generated files whose text differs from what the table gives."""
    found = []
    for path, render in _expected().items():
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if render(text) != text:
            found.append(path)
    return found


def write() -> list[Path]:
    """Rewrite every stale generated file; returns those it wrote."""
    written = []
    for path, render in _expected().items():
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        new = render(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobkit.exits", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    rewrite = sub.add_parser("write", help="rewrite the chart template, examples and docs")
    rewrite.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    table = sub.add_parser("markdown", help="print the exit-code table of commands")
    table.add_argument("commands", nargs="+", choices=COMMANDS)
    policy = sub.add_parser("pod-failure-policy", help="print a Job's podFailurePolicy")
    policy.add_argument("command", choices=get_args(Command))
    policy.add_argument("container")
    args = parser.parse_args(argv)
    if args.what == "write" and args.check:
        old = stale()
        for path in old:
            print(f"stale: {path.relative_to(ROOT)} (python -m jobkit.exits write)")
        return 1 if old else 0
    if args.what == "write":
        for path in write():
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.what == "markdown":
        sys.stdout.write(markdown(args.commands))
    else:
        doc_ = {"podFailurePolicy": pod_failure_policy(args.command, args.container)}
        sys.stdout.write(yaml.safe_dump(doc_, sort_keys=False))
    return 0
