"""The output folder: one Parquet file per shard, and a completion record written last.

Output never lies:

- A shard is written to a temporary name in the same folder (``jobkit.files``' one rule:
  ``.part-...parquet.<host>-<pid>-<token>.tmp``), fsynced, renamed over
  ``part-00003-of-00016.parquet``, and the folder fsynced; only then is its completion
  record ``part-00003-of-00016.done.json`` (rows, bytes, sha256, the run's identity) written
  the same way. A reader trusts a part only when its
  record and its bytes agree.
- A rerun skips shards whose record and file agree and rewrites any other (a file without a
  record is a run killed between the two renames; a temporary file is a run killed mid-shard).
- Two processes on one shard (Kubernetes allows it) write the same bytes, because the split,
  the rows and the file metadata are deterministic and carry no timestamp, so whichever
  rename lands last leaves a file its record describes. Should the bytes ever differ (two
  node types rounding differently), the record check catches it and the shard is redone.
- A folder that holds parts of another config, model or shard count is refused before any
  work: mixing them would merge rows that do not belong together.

Every quantity column carries its unit and dimension in the Arrow field metadata
(``jobkit.parquet.Column``); the file metadata carries the run's identity under
``dimtensor.batch`` and ``PANDAS_ATTRS`` (``{"units": ..., "dimensions": ...}``), which pandas
restores as ``DataFrame.attrs``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from batch.shards import Shard
from jobkit.errors import ConfigError, Interruption
from jobkit.files import atomic_path, atomic_write, sha256_file, temp_glob
from jobkit.parquet import Column

__all__ = [
    "METADATA_KEY",
    "OUTSIDE",
    "OUTSIDE_INPUTS",
    "OutputFolder",
    "RunIdentity",
    "ShardRecord",
    "atomic_parquet",
    "schema_for",
]

log = logging.getLogger("batch")

METADATA_KEY = b"dimtensor.batch"
PANDAS_ATTRS = b"PANDAS_ATTRS"
RECORD_SUFFIX = ".done.json"
STALE_TEMP_SECONDS = 900  # a temporary file untouched this long belongs to a dead process


OUTSIDE = "outside_domain"
"""The flag column of rows outside the model's validity domain (``batch.door``)."""
OUTSIDE_INPUTS = "outside_domain_inputs"
"""Which inputs each flagged row is outside in, comma-separated (null inside)."""


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """What the rows depend on: every part of one output folder must share it."""

    kind: str
    config_sha256: str
    model: str | None
    version: str | None
    weights_sha256: str | None
    package_version: str

    def mismatch(self, other: dict[str, Any]) -> str | None:
        """How a record's identity differs from this one (None: it does not)."""
        mine = asdict(self)
        for key, value in mine.items():
            if other.get(key) != value:
                return f"{key} {other.get(key)!r} (this run: {value!r})"
        return None


@dataclass(frozen=True, slots=True)
class ShardRecord:
    """The completion record of one part file."""

    file: str
    shard: int
    shards: int
    rows: int
    size: int
    sha256: str
    identity: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def read(cls, path: Path) -> ShardRecord | None:
        """The record at `path`, or None when it is absent or unreadable."""
        try:
            doc = json.loads(path.read_bytes())
            return cls(**doc)
        except (OSError, ValueError, TypeError):
            return None


def schema_for(
    columns: Sequence[Column], identity: RunIdentity, extra: dict[str, Any]
) -> pa.Schema:
    """The Arrow schema of a part (or merged) file: units per field, identity per file."""
    units = {c.name: c.unit for c in columns if c.unit is not None}
    dimensions = {c.name: c.dimension for c in columns if c.unit is not None}
    metadata = {
        METADATA_KEY: json.dumps({**asdict(identity), **extra}, sort_keys=True).encode(),
        PANDAS_ATTRS: json.dumps({"units": units, "dimensions": dimensions}).encode(),
    }
    return pa.schema([c.field() for c in columns], metadata=metadata)


@contextlib.contextmanager
def atomic_parquet(final: Path, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A Parquet writer whose file appears at `final` only when the block completes."""
    with atomic_path(final) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        yield writer


class OutputFolder:
    """The part files of one run (one identity, one shard count) in one folder."""

    def __init__(self, path: Path, identity: RunIdentity, count: int) -> None:
        self.path = path
        self.identity = identity
        self.count = count

    def part(self, shard: Shard) -> Path:
        return self.path / f"{shard.name}.parquet"

    def record_path(self, shard: Shard) -> Path:
        return self.path / f"{shard.name}{RECORD_SUFFIX}"

    def records(self) -> list[tuple[Path, ShardRecord | None]]:
        """Every completion record in the folder (None where one cannot be read)."""
        if not self.path.is_dir():
            return []
        found = sorted(self.path.glob(f"part-*{RECORD_SUFFIX}"))
        return [(p, ShardRecord.read(p)) for p in found]

    def check_compatible(self) -> None:
        """Refuse (a config error, before any work) a folder holding another run's parts."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"output {self.path} exists and is not a folder")
        for path, record in self.records():
            if record is None:
                continue  # unreadable: that shard is redone
            if record.shards != self.count:
                raise ConfigError(
                    f"output {self.path} holds {path.name}, a shard of a run split "
                    f"{record.shards} ways; this run is split {self.count} ways. Use the same "
                    "shard count, another output folder, or empty this one"
                )
            mismatch = self.identity.mismatch(record.identity)
            if mismatch is not None:
                raise ConfigError(
                    f"output {self.path} holds {path.name}, written by another run: its "
                    f"{mismatch}. Use another output folder, or empty this one"
                )

    def problem(self, shard: Shard) -> str | None:
        """Why the shard's part cannot be trusted (None: its record and bytes agree)."""
        record = ShardRecord.read(self.record_path(shard))
        part = self.part(shard)
        if record is None:
            if part.exists():
                return f"{part.name} has no completion record (its run stopped before it)"
            return f"{part.name} is missing"
        if record.shards != self.count or record.shard != shard.index:
            return f"{self.record_path(shard).name} describes another shard"
        mismatch = self.identity.mismatch(record.identity)
        if mismatch is not None:
            return f"{part.name} was written by another run: its {mismatch}"
        try:
            size = part.stat().st_size
        except OSError:
            return f"{part.name} is missing though its record says {record.rows} rows"
        if size != record.size or sha256_file(part) != record.sha256:
            return f"{part.name} does not match its record (size or sha256 differ)"
        return None

    def write(
        self,
        shard: Shard,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        should_stop: Callable[[], bool],
    ) -> ShardRecord:
        """Write the shard's part from `batches`, then its record; `should_stop` is asked
        before each row group (SIGTERM), and a stop discards the unfinished part."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps(shard)
        final = self.part(shard)
        rows = 0
        with atomic_path(final) as tmp:
            with pq.ParquetWriter(tmp, schema) as writer:
                for batch in batches:
                    if should_stop():
                        raise Interruption(f"{shard}: stopped by a signal after {rows} rows")
                    writer.write_batch(batch, row_group_size=max(1, batch.num_rows))
                    rows += batch.num_rows
            digest, size = sha256_file(tmp), tmp.stat().st_size
        record = ShardRecord(
            final.name, shard.index, shard.count, rows, size, digest, asdict(self.identity)
        )
        atomic_write(self.record_path(shard), record.to_json())
        return record

    def _remove_stale_temps(self, shard: Shard) -> None:
        """Temporary files of this shard untouched for STALE_TEMP_SECONDS: a writer that
        lives touches its file at every row group, so these belong to killed runs."""
        now = time.time()
        for tmp in self.path.glob(temp_glob(self.part(shard).name)):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                    tmp.unlink()
                    log.info("removed %s, left by a killed run", tmp.name)

    def remove_temps(self) -> None:
        """Every temporary file (after a merge: no writer of this run is left)."""
        for tmp in self.path.glob(temp_glob()):
            with contextlib.suppress(OSError):
                tmp.unlink()
