"""Which device a container found, said once at start, and the GPU image's rule for the CPU.

The GPU image sets ``IMAGE_ACCELERATOR=cuda``. A GPU pod scheduled without a GPU (a missing
``nvidia.com/gpu`` limit, a node without the device plugin) would otherwise train on the CPU,
a hundred times slower and silently; it is refused unless ``ALLOW_CPU_FALLBACK=true`` says the
CPU is acceptable. The CPU image never imports torch here: the check costs it nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AcceleratorMissingError", "AcceleratorSettings", "describe_device"]


class AcceleratorSettings(BaseSettings):
    """The image's accelerator settings, from the environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    image_accelerator: Literal["cpu", "cuda"] = Field(
        "cpu",
        validation_alias="IMAGE_ACCELERATOR",
        description="The device the image was built for (set by the Dockerfile): cpu or cuda.",
    )
    allow_cpu_fallback: bool = Field(
        False,
        validation_alias="ALLOW_CPU_FALLBACK",
        description="In the cuda image, run on the CPU when no GPU is visible instead of exiting.",
    )


class AcceleratorMissingError(RuntimeError):
    """The image was built for a GPU, none is visible, and the CPU was not allowed."""


def describe_device(settings: AcceleratorSettings) -> str:
    """The device this container will compute on, in words for the log.

    Raises ``AcceleratorMissingError`` in the cuda image when no GPU is visible and
    ``ALLOW_CPU_FALLBACK`` is false.
    """
    if settings.image_accelerator == "cpu":
        return "cpu (image built for the CPU)"
    import torch  # here, not at the top: only the GPU image pays for the import

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        build = f"CUDA {torch.version.cuda}, torch {torch.__version__}"
        return f"cuda: {count} GPU(s) [{names}], {build}"
    found = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
    if not settings.allow_cpu_fallback:
        raise AcceleratorMissingError(
            f"image built for cuda, but {found}: expected a visible GPU (a nvidia.com/gpu "
            "resource limit and the NVIDIA device plugin on the node); set "
            "ALLOW_CPU_FALLBACK=true to run on the CPU instead"
        )
    return f"cpu (fallback allowed by ALLOW_CPU_FALLBACK: {found})"
