"""The input of a ``predict`` job: a Parquet or CSV file read in bounded chunks of a row range.

Units come from the Parquet field metadata (key ``unit``, as the batch jobs write it) or from
the config's ``units:`` map; a column with both must agree. Reading streams: Parquet by row
group and ``iter_batches``, CSV by ``pyarrow.csv.open_csv``'s blocks, so memory stays near one
row group (or one CSV block) plus one chunk, whatever the file's size.

A CSV file has no row index: its rows are counted by one streaming pass first, and a shard
reads up to its last row. Convert large inputs to Parquet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jobkit.errors import ConfigError, InputDataError
from jobkit.parquet import PRE_BUFFER, Column

__all__ = ["Source", "open_source"]

CSV_BLOCK_BYTES = 1 << 22


class Source:
    """Row ranges of selected columns of one file, with each column's unit."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        rows: int,
        units: Mapping[str, str | None],
        fmt: Literal["parquet", "csv"],
    ) -> None:
        self.path = path
        self.schema = schema
        self.rows = rows
        self.units = dict(units)
        self.format = fmt

    def fingerprint(self) -> dict[str, object]:
        """What identifies the file's content cheaply: its size and row count."""
        return {"rows": self.rows, "bytes": os.stat(self.path).st_size}

    def field(self, name: str) -> pa.Field:
        return self.schema.field(name)

    def chunks(
        self, columns: Sequence[str], start: int, stop: int, chunk_rows: int
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """``(first row number, batch)`` covering rows ``[start, stop)``, in order."""
        if stop <= start:
            return
        reader = self._parquet if self.format == "parquet" else self._csv
        try:
            yield from reader(list(columns), start, stop, chunk_rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise InputDataError(f"input {self.path}: rows {start} to {stop - 1}: {exc}") from None

    def _parquet(
        self, columns: list[str], start: int, stop: int, chunk_rows: int
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        pf = pq.ParquetFile(self.path, pre_buffer=PRE_BUFFER)
        groups, first = [], None
        offset = 0
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if offset < stop and offset + n > start:
                groups.append(g)
                first = offset if first is None else first
            offset += n
        pos = first or 0
        for batch in pf.iter_batches(
            batch_size=chunk_rows, row_groups=groups, columns=columns, use_threads=False
        ):
            lo, hi = max(start, pos), min(stop, pos + batch.num_rows)
            if hi > lo:
                yield lo, batch.slice(lo - pos, hi - lo)
            pos += batch.num_rows
            if pos >= stop:
                return

    def _csv(
        self, columns: list[str], start: int, stop: int, chunk_rows: int
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        pos = 0
        for batch in _csv_reader(self.path, columns, self.schema):
            lo, hi = max(start, pos), min(stop, pos + batch.num_rows)
            while lo < hi:  # CSV blocks are bytes, not rows: cut them to chunk_rows
                n = min(chunk_rows, hi - lo)
                yield lo, batch.slice(lo - pos, n)
                lo += n
            pos += batch.num_rows
            if pos >= stop:
                return


def _csv_reader(path: Path, columns: list[str], schema: pa.Schema) -> pacsv.CSVStreamingReader:
    types = {name: schema.field(name).type for name in columns}
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns),
    )


def open_source(
    path: Path,
    fmt: Literal["parquet", "csv"],
    numeric: Sequence[str],
    keep: Sequence[str],
    config_units: Mapping[str, str],
) -> Source:
    """Open the input and check it can be scored, before any work: the file reads, every
    model input is a numeric column with a unit, every kept column exists."""
    if not path.is_file():
        raise ConfigError(f"input {path}: no such file")
    try:
        schema, rows = _parquet_head(path) if fmt == "parquet" else _csv_head(path, numeric)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise ConfigError(f"input {path}: cannot read it as {fmt}: {exc}") from None
    for name in (*numeric, *keep):
        if name not in schema.names:
            raise ConfigError(
                f"input {path}: no column {name!r}; expected the model's inputs "
                f"{list(numeric)} and kept columns {list(keep)}, received {schema.names}"
            )
    units: dict[str, str | None] = {}
    for name in numeric:
        field = schema.field(name)
        if not (pa.types.is_floating(field.type) or pa.types.is_integer(field.type)):
            raise ConfigError(f"input {path}: column {name!r} is {field.type}; expected numbers")
        units[name] = _unit_of(path, field, config_units.get(name))
    for name in config_units:
        if name not in numeric:
            raise ConfigError(
                f"units: {name!r} is not an input of the model; expected some of {list(numeric)}"
            )
    return Source(path, schema, rows, units, fmt)


def _unit_of(path: Path, field: pa.Field, configured: str | None) -> str:
    stored = Column.from_field(field).unit
    if stored is not None and configured is not None and stored != configured:
        raise ConfigError(
            f"input {path}: column {field.name!r} is in {stored!r} by the file's schema, "
            f"the config's units: says {configured!r}; remove one"
        )
    unit = stored or configured
    if unit is None:
        raise ConfigError(
            f"input {path}: column {field.name!r} has no unit; expected a 'unit' in its "
            f"Parquet field metadata or an entry in the config's units:, e.g. "
            f"units: {{{field.name}: m}}"
        )
    return unit


def _parquet_head(path: Path) -> tuple[pa.Schema, int]:
    pf = pq.ParquetFile(path, pre_buffer=PRE_BUFFER)
    return pf.schema_arrow, pf.metadata.num_rows


def _csv_head(path: Path, numeric: Sequence[str]) -> tuple[pa.Schema, int]:
    """The schema (model inputs read as float64) and the row count. Rows are counted on one
    column read as text, so a bad cell is reported by the shard that owns it (exit 3), not
    here."""
    options = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False)
    header = pacsv.open_csv(path, read_options=options).schema
    fields = [pa.field(f.name, pa.float64()) if f.name in numeric else f for f in header]
    first = header.names[0]
    counter = pacsv.open_csv(
        path,
        read_options=options,
        convert_options=pacsv.ConvertOptions(
            include_columns=[first], column_types={first: pa.string()}
        ),
    )
    rows = sum(batch.num_rows for batch in counter)
    return pa.schema(fields), rows
