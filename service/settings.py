"""Every setting of the server, in one typed place, read from the environment.

Names are unprefixed on purpose: ``PORT`` and ``WEB_CONCURRENCY`` are what platforms
and gunicorn already use, and a ``DIMTENSOR_`` prefix would collide with the
``<SERVICE>_PORT`` variables Kubernetes injects for a Service named ``dimtensor``.
The table in docs/configuration.md is checked against this class by a test.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Server settings; each field is read from the upper-case environment variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # --- network and processes (gunicorn) ---
    host: str = Field("0.0.0.0", description="Address gunicorn binds to.")  # noqa: S104
    port: int = Field(8080, ge=1, le=65535, description="Port gunicorn binds to.")
    web_concurrency: int = Field(
        1, ge=1, le=64, description="Gunicorn worker processes (scale pods, not workers)."
    )
    timeout: int = Field(
        60, ge=1, description="Seconds a worker may be silent before gunicorn restarts it."
    )
    graceful_timeout: int = Field(
        25, ge=1, description="Seconds in-flight requests get to finish after SIGTERM."
    )
    keepalive: int = Field(5, ge=0, description="Seconds an idle keep-alive connection is kept.")

    # --- models ---
    model_repository: Path | None = Field(
        None, description="Directory of <model>/<version>/model.yaml; unset: embedded defaults."
    )
    model_repository_trusted: bool = Field(
        False, description="Allow formats that carry code (TorchScript) from the repository."
    )
    default_model: str | None = Field(
        "projectile", description="Model used when a request names none; empty disables."
    )
    torch_threads: int = Field(
        1, ge=1, le=64, description="torch intra-op threads per worker process."
    )

    # --- limits ---
    max_unit_length: int = Field(
        256, ge=8, le=4096, description="Longest unit expression accepted, in characters."
    )
    max_rows: int = Field(100_000, ge=1, description="Most rows one request may carry.")
    inline_rows: int = Field(
        512, ge=0, description="Batches up to this many rows run on the event loop, larger in a thread."
    )

    # --- logging ---
    log_level: str = Field("info", description="Python log level of the server.")

    @property
    def bind(self) -> str:
        """The gunicorn bind address."""
        return f"{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
