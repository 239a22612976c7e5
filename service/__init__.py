"""dimtensor-serve: a unit-aware prediction server for dimtensor physics-ML models."""

from __future__ import annotations

__version__ = "0.1.0"
