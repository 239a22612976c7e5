"""The training CLI's exit codes: the batch CLI's table (``batch.exits``), of which training
uses 0 (done), 1 (crash: retried), 2 (config error, refused before the first step: the Job
fails at once) and 75 (stopped by SIGTERM after saving a checkpoint: the replacement
resumes). One table, so a Job's ``podFailurePolicy`` reads the same for both workloads."""

from batch.exits import (
    BatchError,
    ConfigError,
    ExitCode,
    Interruption,
    StopSignal,
    configure_logging,
    exit_code,
)

__all__ = [
    "BatchError",
    "ConfigError",
    "ExitCode",
    "Interruption",
    "StopSignal",
    "configure_logging",
    "exit_code",
]
