"""Gunicorn configuration, read from the server's process settings.

Run: ``gunicorn -c service/gunicorn_conf.py 'service.rest.app:create_app()'``.
Every value comes from ``service.server_settings.ServerSettings`` (environment variables
``HOST``, ``PORT``, ``WEB_CONCURRENCY``, ``TIMEOUT``, ``GRACEFUL_TIMEOUT``, ``KEEPALIVE``,
``MAX_REQUESTS``, ``MAX_REQUESTS_JITTER``, ``LOG_LEVEL``, ``PROMETHEUS_MULTIPROC_DIR``);
``GUNICORN_CMD_ARGS`` still overrides anything here, as gunicorn documents. This module and
what it imports stay light (no pydantic, no prometheus_client, no torch): the master runs
them, and everything it holds is counted again in each worker's RSS.
"""

from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path
from typing import Any

from service.logs import lean_records
from service.server_settings import ServerSettings, SettingsError

try:
    _settings = ServerSettings.from_environ()
except SettingsError as exc:
    sys.exit(f"dimtensor-serve: refusing to start: {exc}")
lean_records()  # the workers fork from this process and keep the flags

bind = [_settings.bind]
workers = _settings.web_concurrency
worker_class = "service.worker.Worker"
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
# Models load in each worker after fork: torch state is not shared across a fork.
preload_app = False
worker_tmp_dir = tempfile.gettempdir()  # writable under a read-only root filesystem
# No runtime control socket (gunicorn 25.1+ opens one under $HOME by default): changing the
# worker count is the chart's job, a socket that can is one more door to guard, and under a
# read-only root filesystem it could not be created anyway.
control_socket_disable = True
# Access lines come from the app's own JSON access log (request id, model, latency).
accesslog = None
errorlog = "-"
loglevel = _settings.log_level
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"level": _settings.log_level.upper(), "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": _settings.log_level.upper(),
            "handlers": ["console"],
            "propagate": False,
        },
        "uvicorn.access": {"level": "WARNING", "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Give the workers an empty Prometheus multiprocess directory, before they fork."""
    from service.metrics.multiprocess import prepare_multiprocess_dir

    default = Path(tempfile.gettempdir()) / "prometheus"
    prepare_multiprocess_dir(_settings.prometheus_multiproc_dir or default)


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker, before it loads the app: no cyclic collection while it imports torch
    and FastAPI and loads the models. Each full collection would walk every object created so
    far (three of them, about 0.25 s of the way to the first answer, measured in
    docs/performance.md); ``post_worker_init`` turns the collector back on."""
    gc.disable()


def post_worker_init(worker: Any) -> None:
    """The app is loaded (torch, the models, the unit tables): those objects live as long as
    the worker, so move them out of the cyclic collector's sight (gc.freeze, as CPython
    documents for servers), then collect again from here on. Without it every full
    collection would walk them all again. Nothing is collected first: that walk would cost
    about 0.1 s on the way to the first answer, to free about 1 MiB of import-time cycles."""
    gc.freeze()
    gc.enable()


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was recycled: its live gauges must stop counting."""
    from service.metrics.multiprocess import mark_process_dead

    mark_process_dead(worker.pid)
