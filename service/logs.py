"""Structured logs: one JSON object per line, for the application and the access log.

Why hand-written: ten lines of ``logging.Formatter`` cover what we need (a fixed set
of fields plus ``extra=``), and the access log must never carry payload values.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "lean_records"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def lean_records() -> None:
    """Skip the record fields the JSON lines never show (thread, process names).

    The logging docs' own optimisation: a LogRecord otherwise looks these up for every
    line, and the access log writes a line per request.
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(level: str) -> None:
    """Send every logger through one JSON handler on stderr (idempotent)."""
    lean_records()
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.handlers = [handler]
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
