"""Every setting of the server, in one typed place, read from the environment.

Names are unprefixed on purpose: ``PORT`` and ``WEB_CONCURRENCY`` are what platforms
and gunicorn already use, and a ``DIMTENSOR_`` prefix would collide with the
``<SERVICE>_PORT`` variables Kubernetes injects for a Service named ``dimtensor``.
The settings of the server process itself (sockets, workers, timeouts, log level) live in
``service.server_settings``, read without pydantic because gunicorn's master reads them; here
they are ``Settings.server``. The table in docs/configuration.md is checked against both
classes by a test.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.models.runtime import DeviceChoice, resolve_device
from service.server_settings import ServerSettings

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Server settings; each field is read from the upper-case environment variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="forbid", frozen=True)

    # --- models ---
    model_repository: Path | None = Field(
        None, description="Directory of <model>/<version>/model.yaml; unset: embedded defaults."
    )
    model_repository_trusted: bool = Field(
        False, description="Allow formats that carry code (TorchScript) from the repository."
    )
    model_device: DeviceChoice = Field(
        "auto",
        description="Device the models compute on: auto (CUDA when a GPU is visible, else the "
        "CPU), cpu, or cuda (refused at start when torch sees no GPU).",
    )
    default_model: str | None = Field(
        "projectile", description="Model used when a request names none; empty disables."
    )
    torch_threads: int = Field(
        1, ge=1, le=64, description="torch intra-op threads per worker process."
    )

    oip_missing_unit: Literal["refuse", "model"] = Field(
        "refuse",
        description="OIP input without parameters.unit: refuse it, or read the model's unit.",
    )
    domain_policy: Literal["flag", "refuse", "ignore"] = Field(
        "flag",
        description="Rows outside a model's validity domain: flag them in the answer, "
        "refuse the request (422), or ignore the domain; a manifest's domain_policy wins.",
    )

    # --- limits ---
    max_unit_length: int = Field(
        256, ge=8, le=4096, description="Longest unit expression accepted, in characters."
    )
    max_rows: int = Field(100_000, ge=1, description="Most rows one request may carry.")
    inline_rows: int = Field(
        512,
        ge=0,
        description="Batches up to this many rows run on the event loop, larger in a thread.",
    )

    # --- micro-batching (service/batching.py) ---
    batch_enabled: bool = Field(
        False, description="Stack concurrent requests to one model into one forward pass."
    )
    batch_max_rows: int = Field(64, ge=1, description="Most rows in one stacked forward pass.")
    batch_max_wait_ms: float = Field(
        2.0,
        ge=0,
        allow_inf_nan=False,
        description="Longest a request waits for others to join its batch (a lone one does not).",
    )
    batch_inline_ms: float = Field(
        0.1,
        ge=0,
        allow_inf_nan=False,
        description="Stacked forward passes shorter than this (average) run on the event loop.",
    )
    batch_queue_rows: int = Field(
        1024, ge=1, description="Rows waiting per model before requests get 503 + Retry-After."
    )

    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body, in bytes (413 above it)."
    )
    request_timeout: float = Field(
        30.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds a request may take before a 504 answers it.",
    )

    # --- auth ---
    auth_enabled: bool = Field(False, description="Require an API key on every non-health path.")
    api_keys: SecretStr = Field(
        SecretStr(""), description="Comma-separated API keys (prefer API_KEYS_FILE)."
    )
    api_keys_file: Path | None = Field(
        None, description="File with one API key per line (a mounted Secret); '#' comments."
    )
    metrics_auth: bool = Field(False, description="Require the API key on /metrics too.")

    # --- logging ---
    access_log: bool = Field(True, description="One JSON access line per request on stderr.")
    access_log_flush_seconds: float = Field(
        1.0,
        ge=0,
        allow_inf_nan=False,
        description="Most seconds an access line waits in memory (written in batches; "
        "0: each line at once).",
    )

    @field_validator("model_device")
    @classmethod
    def _device_is_there(cls, value: DeviceChoice) -> DeviceChoice:
        """The runtime's own rule, applied once here so that ``cuda`` on a machine without a
        GPU is refused at start naming the variable, like any bad value, rather than failing
        every model's load."""
        resolve_device(value)
        return value

    @cached_property
    def server(self) -> ServerSettings:
        """The process settings (port, workers, timeouts, log level, metrics folder), read
        from the environment as gunicorn's master read them."""
        return ServerSettings.from_environ()

    def load_api_keys(self) -> list[str]:
        """Every configured key, from API_KEYS and API_KEYS_FILE.

        Raises:
            ValueError: auth is on but no key is configured (a server nobody can call),
                or the key file cannot be read.
        """
        keys = [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]
        if self.api_keys_file is not None:
            try:
                lines = self.api_keys_file.read_text().splitlines()
            except OSError as exc:
                raise ValueError(f"API_KEYS_FILE {self.api_keys_file}: {exc.strerror}") from None
            keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if self.auth_enabled and not keys:
            raise ValueError(
                "AUTH_ENABLED is true but neither API_KEYS nor API_KEYS_FILE gives a key"
            )
        return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
