"""Merge the parts of one run into ``merged.parquet`` and ``summary.json``.

Every part must be there with a record its bytes agree with, written by this run (same
config hash, model, version, weights); otherwise nothing is written and the refusal lists
each shard that is missing, incomplete or foreign (exit 4). Parts are copied row group by
row group in shard order, so memory stays near one row group; the summary then reads one
column at a time (count, min, max, mean and quantiles, with the column's unit) and, when
the rows carry domain flags, counts the rows outside the model's domain by input.

Statistics are computed in float64 and written at the precision of their column: those of a
float32 column (a float32 model's outputs) as the shortest text of the nearest float32, so
the summary claims no more digits than the column has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from batch.parts import METADATA_KEY, OUTSIDE, OUTSIDE_INPUTS, OutputFolder, atomic_parquet
from batch.shards import Shard
from jobkit.errors import IncompleteError
from jobkit.files import atomic_write
from jobkit.parquet import PRE_BUFFER, Column
from service.tensors import FloatArray, ModelArray

__all__ = ["MERGED", "QUANTILES", "SUMMARY", "merge"]

MERGED = "merged.parquet"
SUMMARY = "summary.json"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def merge(folder: OutputFolder) -> dict[str, Any]:
    """Check every part, then write the merged file and the summary; returns the summary."""
    shards = [Shard(i, folder.count) for i in range(folder.count)]
    problems = [f"{s}: {p}" for s in shards if (p := folder.problem(s)) is not None]
    if problems:
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        raise IncompleteError(
            f"cannot merge {folder.path}: {len(problems)} of {folder.count} shards are not "
            f"complete: {shown}. Rerun the job (complete shards are skipped)"
        )
    parts = [folder.part(s) for s in shards]
    schema = _merged_schema(parts)
    rows = 0
    with atomic_parquet(folder.path / MERGED, schema) as writer:
        for part in parts:
            pf = pq.ParquetFile(part, pre_buffer=PRE_BUFFER)
            for group in range(pf.num_row_groups):
                table = pf.read_row_group(group).replace_schema_metadata(schema.metadata)
                writer.write_table(table)
                rows += table.num_rows
    summary = {
        "rows": rows,
        "shards": folder.count,
        "run": json.loads(schema.metadata[METADATA_KEY]),
        "columns": summarize(folder.path / MERGED),
    }
    outside = outside_domain(folder.path / MERGED)
    if outside is not None:
        summary["outside_domain"] = outside
    text = json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(folder.path / SUMMARY, text.encode())
    folder.remove_temps()
    return summary


def _merged_schema(parts: list[Path]) -> pa.Schema:
    """The parts' common schema, with the file metadata of the whole run."""
    first = pq.read_schema(parts[0])
    for part in parts[1:]:
        if not pq.read_schema(part).equals(first, check_metadata=False):
            raise IncompleteError(
                f"cannot merge: {part.name} has columns {_typed(pq.read_schema(part))}, "
                f"{parts[0].name} has {_typed(first)}"
            )
    metadata = dict(first.metadata or {})
    run = json.loads(metadata[METADATA_KEY])
    for key in ("shard", "row_range"):
        run.pop(key, None)
    metadata[METADATA_KEY] = json.dumps(run, sort_keys=True).encode()
    return first.with_metadata(metadata)


def _typed(schema: pa.Schema) -> list[str]:
    return [f"{field.name}: {field.type}" for field in schema]


def summarize(path: Path) -> dict[str, Any]:
    """Per column: its unit and dimension, and for numbers count/min/max/mean/quantiles."""
    schema = pq.read_schema(path)
    pf = pq.ParquetFile(path, pre_buffer=PRE_BUFFER)
    out: dict[str, Any] = {}
    for field in schema:
        described = Column.from_field(field)
        entry: dict[str, Any] = {"unit": described.unit, "dimension": described.dimension}
        column = pf.read(columns=[field.name]).column(0)
        entry["count"] = len(column) - column.null_count
        if pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
            entry.update(_stats(column.drop_null().to_numpy()))
        out[field.name] = entry
    return out


def outside_domain(path: Path) -> dict[str, Any] | None:
    """How many rows are outside the model's validity domain, in all and by input (from
    the door's flag columns; None: the rows carry no flags)."""
    names = pq.read_schema(path).names
    if OUTSIDE not in names or OUTSIDE_INPUTS not in names:
        return None
    table = pq.read_table(path, columns=[OUTSIDE, OUTSIDE_INPUTS])
    flagged = table.filter(table.column(OUTSIDE))
    by_input: dict[str, int] = {}
    for text in flagged.column(OUTSIDE_INPUTS).to_pylist():
        for name in (text or "").split(","):
            if name:
                by_input[name] = by_input.get(name, 0) + 1
    return {"rows": flagged.num_rows, "inputs": by_input}


def _stats(column: ModelArray | npt.NDArray[np.integer[Any]]) -> dict[str, Any]:
    if column.size == 0:
        return {"min": None, "max": None, "mean": None, "quantiles": {}}
    values: FloatArray = column.astype(np.float64)
    single = column.dtype == np.float32

    def number(x: float) -> float:
        return float(str(np.float32(x))) if single else float(x)

    qs = np.quantile(values, QUANTILES)
    return {
        "min": number(values.min()),
        "max": number(values.max()),
        "mean": number(values.mean()),
        "quantiles": {f"{q:g}": number(v) for q, v in zip(QUANTILES, qs, strict=True)},
    }
