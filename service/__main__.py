"""``dimtensor-serve`` / ``python -m service``: run gunicorn with the project's config;
``dimtensor-serve pack ...`` writes a trained model into a repository instead
(:mod:`service.models.pack_cli`).

Gunicorn runs in this process rather than through its console script: a second interpreter
start (and its site imports) would sit on the path to the first answer for nothing. The pack
command is imported only when asked for: the master imports no torch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["APP", "CONFIG", "main"]

CONFIG = Path(__file__).with_name("gunicorn_conf.py")
APP = "service.rest.app:create_app()"


def main(argv: Sequence[str] | None = None) -> None:
    """Serve ``service.rest.app:create_app()`` until gunicorn's master exits; extra arguments
    are gunicorn options (they override the config file, as gunicorn documents). A first
    argument ``pack`` runs the pack command with the rest, and exits with its code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["pack"]:
        from service.models.pack_cli import main as pack

        raise SystemExit(pack(args[1:]))

    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "-c", str(CONFIG), *args, APP]
    run(prog="dimtensor-serve")


if __name__ == "__main__":
    main()
