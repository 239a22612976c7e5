"""``dimtensor-serve`` / ``python -m service``: start gunicorn with the project's config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["main"]

CONFIG = Path(__file__).with_name("gunicorn_conf.py")


def main() -> None:
    """Replace this process with gunicorn serving ``service.rest.app:create_app()``."""
    argv = ["gunicorn", "-c", str(CONFIG), *sys.argv[1:], "service.rest.app:create_app()"]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(gunicorn, argv)  # noqa: S606 - fixed argv, no shell


if __name__ == "__main__":
    main()
