"""Write the chart README's parameter tables from the `## @param` lines of values.yaml.

Usage: python deploy/helm/readme_params.py [--check]
The tables sit between `<!-- params:start -->` and `<!-- params:end -->` in
deploy/helm/dimtensor/README.md, one table per `## @section`. With --check nothing is
written and the exit status is 1 when the README is stale (tests/deploy/test_docs.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "dimtensor"
START, END = "<!-- params:start -->", "<!-- params:end -->"
SECTION = re.compile(r"^\s*## @section (.+)$")
PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")


def lookup(values: dict[str, Any], path: str) -> Any:
    """The default at a dotted path of values.yaml (KeyError when there is none)."""
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def cell(text: str) -> str:
    """Escape a Markdown table cell."""
    return text.replace("|", "\\|")


def tables(values_text: str) -> str:
    """Markdown: a heading and a Name/Description/Default table per section."""
    values = yaml.safe_load(values_text)
    out: list[str] = []
    for line in values_text.splitlines():
        if m := SECTION.match(line):
            out += ["", f"### {m.group(1)}", ""]
            out += ["| Name | Description | Default |", "|---|---|---|"]
        elif m := PARAM.match(line):
            path, description = m.group(1), m.group(2).strip()
            default = json.dumps(lookup(values, path), separators=(",", ":"))
            out.append(f"| `{path}` | {cell(description)} | `{cell(default)}` |")
    return "\n".join(out).strip("\n")


def render(readme: str, values_text: str) -> str:
    """The README with its parameter block replaced."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{tables(values_text)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    readme_path = CHART / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    new = render(readme, (CHART / "values.yaml").read_text(encoding="utf-8"))
    if "--check" in argv:
        if new != readme:
            print(f"{readme_path} is stale: run python deploy/helm/readme_params.py")
            return 1
        return 0
    readme_path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
