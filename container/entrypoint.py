"""``dimtensor``: the image's entrypoint. ``serve`` (the default), ``batch ...``, ``train ...``.

It logs the device, then replaces itself with the workload's own console script, so the
workload is the container's main process and receives SIGTERM directly (gunicorn's master,
the batch shard, torchrun's launcher), exactly as when the console script is run by hand.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from container.accelerator import AcceleratorMissingError, AcceleratorSettings, describe_device

__all__ = ["COMMANDS", "main"]

#: Each subcommand and the console script (pyproject ``[project.scripts]``) it hands over to.
COMMANDS = {
    "serve": "dimtensor-serve",
    "batch": "dimtensor-batch",
    "train": "dimtensor-train",
}
USAGE = (
    "usage: dimtensor {serve [gunicorn options] | batch run|merge|validate CONFIG "
    "| train run|validate|launch CONFIG}"
)
EXIT_USAGE = 2  # the jobs' exit code for a refused configuration (batch/exits.py)


def _log(level: str, message: str) -> None:
    """One line in the jobs' log format (UTC time, level, message) on stderr."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stderr.write(f"{stamp}Z {level} dimtensor: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Check the device, then exec the chosen workload; returns only on a refusal."""
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("serve", [])
    if command in ("-h", "--help"):
        sys.stdout.write(f"{USAGE}\n")
        return 0
    if command not in COMMANDS:
        _log("ERROR", f"unknown command {command!r}: expected one of {', '.join(COMMANDS)}")
        sys.stderr.write(f"{USAGE}\n")
        return EXIT_USAGE
    try:
        _log("INFO", f"device: {describe_device(AcceleratorSettings())}")
    except (AcceleratorMissingError, ValidationError) as exc:
        _log("ERROR", str(exc).replace("\n", "; "))
        return EXIT_USAGE
    return _hand_over(COMMANDS[command], rest)


def _hand_over(console_script: str, args: list[str]) -> NoReturn:
    """Become the console script installed beside this Python (same venv), with ``args``."""
    script = Path(sys.executable).with_name(console_script)
    os.execv(script, [str(script), *args])  # noqa: S606 - a fixed script, the caller's own args


if __name__ == "__main__":
    raise SystemExit(main())
