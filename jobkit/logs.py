"""The jobs' log line: a UTC time, the level and the message, on stderr.

Plain lines read well in ``kubectl logs``; stdout stays for machine-readable output (metrics,
``validate``). The batch and training CLIs and the image's entrypoint write this one format.
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["configure_logging", "formatter"]

FORMAT = "%(asctime)sZ %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def formatter() -> logging.Formatter:
    """``2025-01-31T12:00:00Z INFO message``: the time in UTC, to the second."""
    fmt = logging.Formatter(FORMAT, DATE_FORMAT)
    fmt.converter = time.gmtime
    return fmt


def configure_logging(name: str) -> logging.Logger:
    """The logger `name`, writing the jobs' lines to stderr (and nowhere else)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
