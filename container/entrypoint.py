"""``dimtensor``: the image's entrypoint. ``serve`` (the default), ``batch ...``, ``train ...``.

It logs the device, then replaces itself with the workload's own console script, so the
workload is the container's main process and receives SIGTERM directly (gunicorn's master,
the batch shard, torchrun's launcher), exactly as when the console script is run by hand.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from container.accelerator import AcceleratorMissingError, AcceleratorSettings, describe_device
from jobkit.exits import ExitCode
from jobkit.logs import configure_logging

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


def main(argv: Sequence[str] | None = None) -> int:
    """Check the device, then exec the chosen workload; returns only on a refusal (exit 2,
    the code a Job's ``podFailurePolicy`` fails the Job on: a retry would be refused alike)."""
    log = configure_logging("dimtensor")  # the jobs' log line
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("serve", [])
    if command in ("-h", "--help"):
        sys.stdout.write(f"{USAGE}\n")
        return 0
    if command not in COMMANDS:
        known = ", ".join(COMMANDS)
        log.error("dimtensor: unknown command %r: expected one of %s", command, known)
        sys.stderr.write(f"{USAGE}\n")
        return ExitCode.CONFIG
    try:
        log.info("dimtensor: device: %s", describe_device(AcceleratorSettings()))
    except (AcceleratorMissingError, ValidationError) as exc:
        log.error("dimtensor: %s", str(exc).replace("\n", "; "))
        return ExitCode.CONFIG
    return _hand_over(COMMANDS[command], rest)


def _hand_over(console_script: str, args: list[str]) -> NoReturn:
    """Become the console script installed beside this Python (same venv), with ``args``."""
    script = Path(sys.executable).with_name(console_script)
    os.execv(script, [str(script), *args])  # noqa: S606 - a fixed script, the caller's own args


if __name__ == "__main__":
    raise SystemExit(main())
