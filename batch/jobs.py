"""What each kind computes, decided before any work: its rows, its columns, its identity.

``plan(config, ...)`` checks everything that can be checked without computing a row (the
config's units and dimensions against the model through the core, the input file's columns
and units, the equations) and returns a ``Plan``. Building a plan is ``validate``; running
one is ``run``. Every refusal here is a ``ConfigError`` (exit 2) and writes nothing.

- ``DesignPlan`` (``sweep``, ``montecarlo``): rows from ``batch.designs``, scored by the
  ``BatchDoor``; each row carries its parameters in the config's units and the outputs.
- ``PredictPlan`` (``predict``): rows of the input file, scored by the ``BatchDoor``; each
  row carries its number in the file, the kept columns, the model's inputs as read (the
  file's own column types: a float32 column stays float32) and the outputs.

Output columns have the ``BatchDoor``'s dtype: the model's, or float64 when the job widens
them (``output_dtype``).
- ``PiPlan`` (``pi``): problems analysed by dimtensor's ``buckingham_pi``, a row per group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from batch.config import BatchSettings, MonteCarloJob, PiJob, PredictJob, SweepJob, config_hash
from batch.designs import Design, design_for
from batch.door import BatchDoor
from batch.parts import RunIdentity
from batch.pi import COLUMNS as PI_COLUMNS
from batch.pi import PiProblem, pi_rows, problems_for
from batch.progress import Progress
from batch.sources import Source, open_source
from jobkit.config import load_environment
from jobkit.errors import ConfigError
from jobkit.files import sha256_file
from jobkit.parquet import Column
from service import __version__
from service.core import build_dataplane, repository_root
from service.dataplane import DataPlane
from service.errors import ManifestError, ServiceError
from service.models import LoadedModel
from service.models.weights import resolve_weights_path
from service.settings import Settings
from service.tensors import FloatArray
from service.units import parse_unit

__all__ = ["DesignPlan", "PiPlan", "Plan", "PredictPlan", "plan"]

ROW = "row"

log = logging.getLogger("batch")


class Plan:
    """A checked job: ``rows`` items to split, the output ``columns``, and ``batches``."""

    identity: RunIdentity
    rows: int
    columns: list[Column]

    def batches(
        self, start: int, stop: int, chunk_rows: int, progress: Progress
    ) -> Iterator[pa.RecordBatch]:
        """Output rows for items ``[start, stop)``, a chunk (one row group) at a time."""
        schema = self._schema()
        for lo in range(start, stop, chunk_rows):
            hi = min(stop, lo + chunk_rows)
            yield self._chunk(lo, hi, schema)
            progress.advance(hi - lo)

    def _chunk(self, start: int, stop: int, schema: pa.Schema) -> pa.RecordBatch:
        """The output rows of items ``[start, stop)``."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the log: what will be computed."""
        raise NotImplementedError

    def _schema(self) -> pa.Schema:
        return pa.schema([c.field() for c in self.columns])


def plan(config: SweepJob | MonteCarloJob | PredictJob | PiJob, settings: BatchSettings) -> Plan:
    """Check `config` against the model repository (or the equations) and plan it."""
    if isinstance(config, PiJob):
        return PiPlan(config)
    server = load_environment(Settings)
    root = repository_root(server)
    try:
        dataplane = build_dataplane(server, max_rows=settings.chunk_rows)
    except ManifestError as exc:
        raise ConfigError(f"MODEL_REPOSITORY: {exc.message}") from None
    if isinstance(config, PredictJob):
        return PredictPlan(config, dataplane, root)
    return DesignPlan(config, dataplane, root)


def _identity(
    config: SweepJob | MonteCarloJob | PredictJob | PiJob,
    model: LoadedModel | None,
    root: Path | None,
    extra: dict[str, object],
) -> RunIdentity:
    weights = None
    if model is not None and root is not None and model.manifest.weights is not None:
        folder = root / model.name / model.version
        weights = sha256_file(resolve_weights_path(folder, model.manifest.weights))
    return RunIdentity(
        kind=config.kind,
        config_sha256=config_hash(config, extra),
        model=model.name if model else None,
        version=model.version if model else None,
        weights_sha256=weights,
        package_version=__version__,
    )


def _quantity(name: str, unit: str, kind: pa.DataType | None = None) -> Column:
    parsed = parse_unit(unit)
    return Column(name, kind or pa.float64(), unit, parsed.dimension_name)


def _output_columns(door: BatchDoor, taken: Sequence[str]) -> list[Column]:
    columns = []
    for name, unit in door.output_units.items():
        if name in taken:
            raise ConfigError(f"output {name!r} has the name of an input column; rename the column")
        columns.append(Column(name, door.output_type, unit.expression, unit.dimension_name))
    return columns


def _index_column() -> Column:
    return Column(ROW, pa.int64(), "1", "dimensionless")


class DesignPlan(Plan):
    """A sweep or a Monte Carlo study over a model."""

    def __init__(self, config: SweepJob | MonteCarloJob, dataplane: DataPlane, root: Path) -> None:
        self.config = config
        units = {name: p.unit for name, p in config.parameters.items()}
        self.door = BatchDoor(
            dataplane, config.model, config.version, units, config.outputs, config.output_dtype
        )
        self.design: Design = design_for(config)
        self.rows = self.design.rows
        self.columns = [
            _index_column(),
            *(_quantity(n, u) for n, u in units.items()),
            *_output_columns(self.door, [ROW, *units]),
            *self.door.domain_columns(),
        ]
        self.identity = _identity(config, self.door.model, root, self.door.identity())

    def describe(self) -> str:
        model = self.door.model
        return (
            f"{self.config.kind} of {model.name}/{model.version} on {model.device}: "
            f"{self.rows:,} rows"
        )

    def _chunk(self, start: int, stop: int, schema: pa.Schema) -> pa.RecordBatch:
        inputs = self.design.columns(start, stop)
        scored = self.door.score(inputs, start)
        arrays = [np.arange(start, stop, dtype=np.int64), *inputs.values()]
        arrays += scored.outputs.values()
        flags = self.door.domain_arrays(scored, stop - start)
        return pa.RecordBatch.from_arrays([*_arrow(arrays), *flags], schema=schema)


def _arrow(arrays: Sequence[npt.NDArray[Any]]) -> list[pa.Array]:
    return [pa.array(a) for a in arrays]


class PredictPlan(Plan):
    """Batch inference over the rows of a Parquet or CSV file."""

    def __init__(self, config: PredictJob, dataplane: DataPlane, root: Path) -> None:
        self.config = config
        try:
            model = dataplane.resolve(config.model, config.version)
        except ServiceError as exc:
            raise ConfigError(exc.message) from None
        self.inputs = [spec.name for spec in model.manifest.inputs]
        for name in config.keep:
            if name in self.inputs or name == ROW:
                raise ConfigError(
                    f"keep: {name!r} is a model input (always written) or the row index; "
                    "list only other columns"
                )
        path = Path(config.input)
        self.source: Source = open_source(
            path, config.input_format, self.inputs, config.keep, config.units
        )
        self.door = BatchDoor(
            dataplane,
            config.model,
            config.version,
            self.source.units,
            config.outputs,
            config.output_dtype,
        )
        self.rows = self.source.rows
        kept = [Column.from_field(self.source.field(name)) for name in config.keep]
        self.columns = [
            _index_column(),
            *kept,
            *(
                _quantity(n, self.source.units[n] or "", self.source.field(n).type)
                for n in self.inputs
            ),
            *_output_columns(self.door, [ROW, *config.keep, *self.inputs]),
            *self.door.domain_columns(),
        ]
        for column in self.door.domain_columns():
            if column.name in config.keep:
                raise ConfigError(
                    f"keep: {column.name!r} is the name of the domain flag column this model's "
                    "rows get; rename the input column"
                )
        identity = {**self.source.fingerprint(), **self.door.identity()}
        self.identity = _identity(config, self.door.model, root, identity)

    def describe(self) -> str:
        model = self.door.model
        return (
            f"predict with {model.name}/{model.version} on {model.device}: {self.rows:,} rows "
            f"of {self.source.path}"
        )

    def batches(
        self, start: int, stop: int, chunk_rows: int, progress: Progress
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema()
        read = [*self.config.keep, *self.inputs]
        for first, batch in self.source.chunks(read, start, stop, chunk_rows):
            values = {name: _floats(batch.column(name)) for name in self.inputs}
            scored = self.door.score(values, first)
            rows = batch.num_rows
            arrays = [
                pa.array(np.arange(first, first + rows, dtype=np.int64)),
                *(batch.column(name) for name in self.config.keep),
                *(batch.column(name) for name in self.inputs),  # as read, in the file's type
                *_arrow(list(scored.outputs.values())),
                *self.door.domain_arrays(scored, rows),
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            progress.advance(rows)


def _floats(column: pa.Array) -> FloatArray:
    """float64 values (nulls become NaN, which the core refuses with the row)."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


class PiPlan(Plan):
    """Buckingham Pi over named variables or equations of dimtensor's database."""

    def __init__(self, config: PiJob) -> None:
        self.config = config
        self.problems: list[PiProblem] = problems_for(config)
        self.rows = len(self.problems)
        self.columns = list(PI_COLUMNS)
        self.identity = _identity(config, None, None, {})

    def describe(self) -> str:
        return f"Buckingham Pi of {self.rows} problem(s)"

    def _chunk(self, start: int, stop: int, schema: pa.Schema) -> pa.RecordBatch:
        rows = list(pi_rows(self.problems[start:stop], start))
        for problem in self.problems[start:stop]:
            groups = [r["product"] for r in rows if r["source"] == problem.source]
            log.info("%s: %d group(s): %s", problem.source, len(groups), "; ".join(groups))
        return pa.RecordBatch.from_pylist(rows, schema=schema)
