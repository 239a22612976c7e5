"""dimtensor-serve: a unit-aware prediction server for dimtensor physics-ML models.

Importing this package imports nothing heavy: the gunicorn master imports it (its config and
worker class live here) and never runs a model, so it must not pay for torch or dimtensor,
and neither must each worker it forks before the worker loads the app.

What it does install is a rule for the first ``import dimtensor`` in this process: matplotlib
is hidden while dimtensor's ``__init__`` runs. That ``__init__`` imports ``matplotlib.pyplot``
whenever matplotlib is installed (it is, for the training job's figures, in the one image all
workloads share), which measured 0.43 s of every worker's start and wrote a font cache under
HOME at every fresh start; nothing here plots through dimtensor (``training.plots`` uses
matplotlib directly, which stays importable afterwards). ``batch`` and ``training`` import this
package first for the same reason.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__version__ = "0.1.0"


class _WithoutMatplotlib(importlib.abc.Loader):
    """dimtensor's own loader, run while ``import matplotlib`` raises ImportError."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if "matplotlib" in sys.modules:  # already imported: nothing left to save
            self._loader.exec_module(module)
            return
        sys.modules["matplotlib"] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            del sys.modules["matplotlib"]

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self._loader, name)


class _DimtensorFinder(importlib.abc.MetaPathFinder):
    """Finds ``dimtensor`` as usual, once, and wraps its loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "dimtensor":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _WithoutMatplotlib(spec.loader)
        return spec


if "dimtensor" not in sys.modules:
    sys.meta_path.insert(0, _DimtensorFinder())
