"""Parquet columns with units: how the jobs write a quantity column and read its unit back.

A quantity column carries its unit and dimension in the Arrow field metadata (keys ``unit``
and ``dimension``), so a file says what its numbers are: a batch sweep's output is a
surrogate's training data as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["PRE_BUFFER", "Column"]

# pyarrow's ParquetFile defaults to pre_buffer=True, which keeps every column chunk it has
# read until the file is closed: iter_batches over a 10M-row file held 320 MB more at the end
# than at the start (pa.total_allocated_bytes, pyarrow 25). Without it memory stays at one
# row group. Measured with python -m bench.batch (docs/performance.md).
PRE_BUFFER = False


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its Arrow type, and for a quantity its unit and dimension."""

    name: str
    type: pa.DataType
    unit: str | None = None
    dimension: str | None = None

    @classmethod
    def from_field(cls, field: pa.Field) -> Column:
        """A column as a file's schema describes it (the readers' one way to its unit)."""
        meta = field.metadata or {}
        unit = meta.get(b"unit", b"").decode() or None
        dimension = meta.get(b"dimension", b"").decode() or None
        return cls(field.name, field.type, unit, dimension)

    def field(self) -> pa.Field:
        meta = None
        if self.unit is not None:
            meta = {b"unit": self.unit.encode(), b"dimension": (self.dimension or "").encode()}
        return pa.field(self.name, self.type, metadata=meta)
