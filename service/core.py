"""The prediction core built from settings, in one place: the app factory, the batch job and
anything else that predicts call this rather than wiring the core again.

From :class:`~service.settings.Settings` it takes torch's thread count, the model repository
(``MODEL_REPOSITORY``, or the embedded default models; ``MODEL_REPOSITORY_TRUSTED``), the
device the models compute on (``MODEL_DEVICE``), and the core's limits and policy
(``MAX_UNIT_LENGTH``, ``MAX_ROWS``, ``DEFAULT_MODEL``, ``INLINE_ROWS``, ``DOMAIN_POLICY``). So
a batch job reads the same repository on the same device with the same limits as the API tier,
and a unit error reads the same in a Job's log as in a ``/predict`` answer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from service.dataplane import DataPlane, ForwardRunner, PredictObserver
from service.models import ModelRepository, default_repository_path
from service.models.runtime import resolve_device
from service.settings import Settings

__all__ = ["build_dataplane", "repository_root", "use_threads"]


def use_threads(settings: Settings) -> None:
    """torch's intra-op threads (``TORCH_THREADS``), for this process."""
    torch.set_num_threads(settings.torch_threads)


def repository_root(settings: Settings) -> Path:
    """The folder the models come from: ``MODEL_REPOSITORY``, else the embedded defaults."""
    return settings.model_repository or default_repository_path()


def build_dataplane(
    settings: Settings,
    *,
    repository: ModelRepository | None = None,
    observer: PredictObserver | None = None,
    batcher: ForwardRunner | None = None,
    max_rows: int | None = None,
) -> DataPlane:
    """Set torch's threads, load the repository (unless given: tests, a preloaded one) and
    build the core over it.

    Args:
        observer: told of each prediction's outcome (the server's metrics).
        batcher: runs ``predict_async``'s forward passes (the server's micro-batching).
        max_rows: most rows of one call, instead of ``MAX_ROWS`` (a batch job's chunk).

    Raises:
        ManifestError: the repository cannot be read.
    """
    use_threads(settings)
    if repository is None:
        repository = ModelRepository.load(
            repository_root(settings),
            trusted=settings.model_repository_trusted,
            device=resolve_device(settings.model_device),
        )
    return DataPlane(
        repository,
        observer=observer,
        default_model=settings.default_model,
        max_unit_length=settings.max_unit_length,
        max_rows=settings.max_rows if max_rows is None else max_rows,
        batcher=batcher,
        inline_rows=settings.inline_rows,
        domain_policy=settings.domain_policy,
    )
