"""Models: manifest schema, code-defined architectures, safe weights loading, the repository.

Import cost: this package imports torch (about 1 s); the units grammar does not.
"""

from __future__ import annotations

from service.models.architectures import (
    ArchitectureParams,
    architecture_names,
    resolve_architecture,
)
from service.models.domains import BoolArray, InputDomain, ModelDomain
from service.models.manifest import (
    DOMAIN_POLICIES,
    MANIFEST_FILENAME,
    ArchitectureSpec,
    DomainPolicy,
    ModelManifest,
    TensorSpec,
    WeightsSpec,
    load_manifest,
)
from service.models.repository import (
    ModelRepository,
    ModelStatus,
    default_repository_path,
    version_sort_key,
)
from service.models.runtime import LoadedModel, ModelArray, load_model

__all__ = [
    "DOMAIN_POLICIES",
    "MANIFEST_FILENAME",
    "ArchitectureParams",
    "ArchitectureSpec",
    "BoolArray",
    "DomainPolicy",
    "InputDomain",
    "LoadedModel",
    "ModelArray",
    "ModelDomain",
    "ModelManifest",
    "ModelRepository",
    "ModelStatus",
    "TensorSpec",
    "WeightsSpec",
    "architecture_names",
    "default_repository_path",
    "load_manifest",
    "load_model",
    "resolve_architecture",
    "version_sort_key",
]
