"""Read batch output back as dimtensor ``DimArray``s, in one call.

dimtensor's own Parquet reader (``dimtensor.io.load_multiple_parquet``) expects columns named
``<name>_data`` and file-level keys per array; renaming every column for it would make the
files worse for everyone else (pandas, polars, SQL engines see ``range_data``). The batch
output keeps plain column names with their unit in the field metadata, and this reader turns
each quantity column into a ``DimArray``, reading the unit text with the project's safe
grammar (``service.units``), never with dimtensor's ``eval`` loader.

An absolute temperature column (degC, degF) comes back in kelvin: dimtensor's units have
no offset, so ``DimArray(values, celsius)`` would read 20 degC as 20 K.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from dimtensor import DimArray
from dimtensor.core.units import Unit

from jobkit.parquet import Column
from service.units import parse_unit

__all__ = ["read_dimarrays"]


def read_dimarrays(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, DimArray]:
    """Every quantity column of a batch Parquet file (or those named) as a ``DimArray``.

    Columns without a ``unit`` in their field metadata (text columns) are left out.
    """
    table = pq.read_table(path, columns=list(columns) if columns is not None else None)
    arrays: dict[str, DimArray] = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        text = Column.from_field(field).unit
        if text is None:
            continue
        unit = parse_unit(text)
        values = np.asarray(column.to_numpy(), dtype=np.float64)
        if unit.offset:
            arrays[field.name] = DimArray(unit.to_si(values), Unit("K", unit.dimension, 1.0))
        else:
            arrays[field.name] = DimArray(values, Unit(text, unit.dimension, unit.scale))
    return arrays
