"""Gunicorn configuration, read from the same typed settings as the app.

Run: ``gunicorn -c service/gunicorn_conf.py 'service.rest.app:create_app()'``.
Every value comes from ``service.settings.Settings`` (environment variables ``HOST``,
``PORT``, ``WEB_CONCURRENCY``, ``TIMEOUT``, ``GRACEFUL_TIMEOUT``, ``KEEPALIVE``);
``GUNICORN_CMD_ARGS`` still overrides anything here, as gunicorn documents.
"""

from __future__ import annotations

from service.settings import get_settings

_settings = get_settings()

bind = [_settings.bind]
workers = _settings.web_concurrency
worker_class = "uvicorn_worker.UvicornWorker"
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
# Models load in each worker after fork: torch state is not fork-safe to share.
preload_app = False
# A crashed worker is replaced; the master never dies with it.
worker_tmp_dir = "/tmp"  # noqa: S108 - must be writable under a read-only root filesystem
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level
