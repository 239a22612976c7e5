"""The server process's settings: what gunicorn's master reads before it forks a worker.

They are read with the standard library, not pydantic, because the master never validates a
request: pydantic and pydantic-settings would cost it about 10 MiB of resident memory (counted
again in every worker's RSS) and 0.15 s before the first worker starts (docs/performance.md,
"A light gunicorn master"). The workers' settings (``service.settings.Settings``) hold these as
``settings.server``, so the server still has one typed place per setting; docs/configuration.md
lists both classes, checked by a test.

Each field is read from its upper-case environment variable. A value that does not parse, or
lies outside its bounds, is refused with every such variable named, what it expects and what
it received: the server refuses to start rather than run on a guess.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ServerSettings", "SettingsError"]

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """One or more environment variables of the server hold a value it cannot run with."""


def _setting(
    default: Any,
    description: str,
    parse: Callable[[str], Any],
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A ``dataclasses.field`` with what the reader and the docs need: how its text parses,
    its bounds or choices, and its description."""
    meta = {"doc": description, "parse": parse, "low": low, "high": high, "choices": choices}
    return field(default=default, metadata=meta)


def _whole(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("a whole number") from None


def _real(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("a number") from None
    if not math.isfinite(value):
        raise ValueError("a finite number")
    return value


def _word(text: str) -> str:
    return text.strip().lower()


def _folder(text: str) -> Path | None:
    """An empty value means unset, as an operator means it (prometheus_client would write its
    files into the working directory)."""
    return Path(text.strip()) if text.strip() else None


@dataclass(frozen=True)
class ServerSettings:
    """Sockets, processes, timeouts and logging of the gunicorn server."""

    host: str = _setting("0.0.0.0", "Address gunicorn binds to.", str.strip)  # noqa: S104
    port: int = _setting(8080, "Port gunicorn binds to.", _whole, low=1, high=65535)
    web_concurrency: int = _setting(
        1, "Gunicorn worker processes (scale pods, not workers).", _whole, low=1, high=64
    )
    timeout: int = _setting(
        60, "Seconds a worker may be silent before gunicorn restarts it.", _whole, low=1
    )
    graceful_timeout: int = _setting(
        25, "Seconds in-flight requests get to finish after SIGTERM.", _whole, low=1
    )
    keepalive: int = _setting(5, "Seconds an idle keep-alive connection is kept.", _whole, low=0)
    max_requests: int = _setting(
        0, "Recycle a worker after this many requests (0: never).", _whole, low=0
    )
    max_requests_jitter: int = _setting(
        0,
        "Random extra requests before recycling, so workers do not restart together.",
        _whole,
        low=0,
    )
    drain_idle_seconds: float = _setting(
        2.0,
        "Seconds a worker that stops (SIGTERM, recycling) keeps an idle connection open for "
        "one last request, answered with Connection: close.",
        _real,
        low=0,
    )
    log_level: str = _setting(
        "info",
        "Python log level of the server (critical, error, warning, info or debug).",
        _word,
        choices=_LOG_LEVELS,
    )
    prometheus_multiproc_dir: Path | None = _setting(  # noqa: RUF009 - a dataclasses.field
        None,
        "Folder where worker processes keep their metrics (the server sets it at start; unset "
        "or empty: in memory, one process).",
        _folder,
    )

    def __post_init__(self) -> None:
        problems = [p for f in fields(self) if (p := _out_of_bounds(f, getattr(self, f.name)))]
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """The settings from ``environ`` (default: this process's environment).

        Raises:
            SettingsError: naming every variable that does not parse or is out of bounds.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems = []
        for f in fields(cls):
            text = env.get(f.name.upper())
            if text is None:
                continue
            try:
                values[f.name] = f.metadata["parse"](text)
            except ValueError as exc:
                problems.append(f"{f.name.upper()}: expected {exc}, received {text!r}")
        try:  # the bounds are __post_init__'s: checked once, for the parsed values too
            settings = cls(**values)
        except SettingsError as exc:
            problems.append(str(exc))
        if problems:
            raise SettingsError("; ".join(problems))
        return settings

    @property
    def bind(self) -> str:
        """The gunicorn bind address."""
        return f"{self.host}:{self.port}"

    @classmethod
    def documented(cls) -> dict[str, tuple[Any, str]]:
        """Each variable's name, default and description (docs/configuration.md's rows)."""
        return {f.name.upper(): (f.default, f.metadata["doc"]) for f in fields(cls)}


def _out_of_bounds(f: Field[Any], value: Any) -> str | None:
    """What is wrong with a parsed value (bounds, choices), or None."""
    low, high, choices = f.metadata["low"], f.metadata["high"], f.metadata["choices"]
    if choices and value not in choices:
        expected = "one of " + ", ".join(choices)
    elif (low is not None and value < low) or (high is not None and value > high):
        expected = f"a value from {low} to {high}" if high is not None else f"at least {low}"
    else:
        return None
    return f"{f.name.upper()}: expected {expected}, received {value!r}"
