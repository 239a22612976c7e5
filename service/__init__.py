"""dimtensor-serve: a unit-aware prediction server for dimtensor physics-ML models.

Importing this package imports dimtensor once, with matplotlib hidden: dimtensor's
``__init__`` imports ``matplotlib.pyplot`` whenever matplotlib is installed (it is, for the
training job's figures, in the one image all workloads share), which measured 0.43 s of every
worker's start and wrote a font cache under HOME at every fresh start; nothing here plots
through dimtensor (``training.plots`` uses matplotlib directly, which stays importable).
``batch`` and ``training`` import this package first for the same reason.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"


def _import_dimtensor_without_matplotlib() -> None:
    if "dimtensor" in sys.modules or "matplotlib" in sys.modules:
        return  # already imported: nothing left to save
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import dimtensor  # noqa: F401
    finally:
        del sys.modules["matplotlib"]


_import_dimtensor_without_matplotlib()
