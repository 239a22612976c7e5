"""``dimtensor-batch``: run, merge or validate one batch config (``python -m batch`` too).

    dimtensor-batch run CONFIG [--shard I] [--shards N]
    dimtensor-batch merge CONFIG [--shards N]
    dimtensor-batch validate CONFIG [--shard I] [--shards N]

From ``main`` to the model: ``load_config`` (the file) -> ``jobs.plan`` (every check, through
the core's ``DataPlane.check_signature``) -> ``OutputFolder.write`` per shard, fed by
``Plan.batches`` -> ``BatchDoor.score`` -> ``DataPlane.predict`` -> ``LoadedModel.predict``.
Exit codes are ``jobkit.exits.ExitCode`` (docs/batch.md has the table a Job's
``podFailurePolicy`` matches).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from batch.config import BatchSettings, load_config, load_settings
from batch.jobs import Plan, plan
from batch.merge import MERGED, SUMMARY, merge
from batch.parts import OutputFolder, schema_for
from batch.progress import Progress
from batch.shards import Shard, shard_count, shards_to_run
from jobkit.errors import IncompleteError, Interruption, exit_code
from jobkit.exits import ExitCode
from jobkit.logs import configure_logging
from jobkit.stop import StopSignal

__all__ = ["main"]

log = logging.getLogger("batch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dimtensor-batch",
        description="Unit-aware batch jobs: predict, sweep, montecarlo, pi (docs/batch.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the config's shards (all, or the one --shard / JOB_COMPLETION_INDEX names)"),
        ("merge", f"combine complete shards into {MERGED} and {SUMMARY}"),
        ("validate", "check the config, its units and its model without running anything"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("config", type=Path, help="the YAML config file")
        sub.add_argument(
            "--shards", type=_positive, help="shard count (else BATCH_SHARDS, else the config)"
        )
        if name != "merge":
            sub.add_argument(
                "--shard", type=_index, help="this shard, 0-based (else JOB_COMPLETION_INDEX)"
            )
    return parser


def _positive(text: str) -> int:
    value = _index(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count >= 1, received {text!r}")
    return value


def _index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, received {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code."""
    args = _parser().parse_args(argv)
    commands = {
        "run": lambda: _run(args.config, args.shard, args.shards),
        "merge": lambda: _merge(args.config, args.shards),
        "validate": lambda: _validate(args.config, args.shard, args.shards),
    }
    return exit_code(commands[args.command], configure_logging("batch"))


class _Job:
    """A config read and checked (planned), with its settings, shard count and output."""

    def __init__(self, path: Path, shards: int | None) -> None:
        self.settings: BatchSettings = load_settings()
        self.config = load_config(path)
        self.output = self.settings.output or Path(self.config.output)
        given = (shards, self.settings.shards, self.config.shards)
        self.count = shard_count(*given)
        self.count_given = any(v is not None for v in given)
        self.plan: Plan = plan(self.config, self.settings)
        self.folder = OutputFolder(self.output, self.plan.identity, self.count)


def _validate(path: Path, shard: int | None, shards: int | None) -> int:
    job = _Job(path, shards)
    shards_to_run(job.count, shard, job.settings.job_completion_index)
    job.folder.check_compatible()
    sys.stdout.write(f"valid: {job.plan.describe()}, {job.count} shard(s), output {job.output}\n")
    return ExitCode.OK


def _run(path: Path, shard: int | None, shards: int | None) -> int:
    with StopSignal(logger="batch", boundary="row-group boundary") as stop:
        job = _Job(path, shards)
        mine = shards_to_run(job.count, shard, job.settings.job_completion_index)
        job.folder.check_compatible()
        log.info("%s, %d shard(s), output %s", job.plan.describe(), job.count, job.output)
        for part in mine:
            if stop.is_set():
                raise Interruption(f"stopped by {stop.signal} before {part}")
            _run_shard(job, part, stop)
        if job.config.merge and _all_complete(job.folder):
            _write_merge(job.folder)
    return ExitCode.OK


def _all_complete(folder: OutputFolder) -> bool:
    """Every shard's part agrees with its record (``merge: true``: the last shard merges)."""
    return all(folder.problem(Shard(i, folder.count)) is None for i in range(folder.count))


def _run_shard(job: _Job, shard: Shard, stop: StopSignal) -> None:
    if job.folder.problem(shard) is None:
        log.info("%s: already complete (%s), skipped", shard, job.folder.part(shard).name)
        return
    start, end = shard.bounds(job.plan.rows)
    progress = Progress(str(shard), end - start, job.settings.progress_seconds)
    schema = schema_for(
        job.plan.columns,
        job.plan.identity,
        {"shard": shard.index, "shards": shard.count, "row_range": [start, end]},
    )
    try:
        batches = job.plan.batches(start, end, job.settings.chunk_rows, progress)
        record = job.folder.write(shard, schema, batches, stop.is_set)
    finally:
        progress.close()
    log.info("%s", progress.line())
    log.info(
        "%s: wrote %s, %d rows, sha256 %s", shard, record.file, record.rows, record.sha256[:12]
    )


def _merge(path: Path, shards: int | None) -> int:
    job = _Job(path, shards)
    if not job.count_given:
        job.folder.count = _recorded_count(job.folder)
    _write_merge(job.folder)
    return ExitCode.OK


def _recorded_count(folder: OutputFolder) -> int:
    """The shard count the records in the folder agree on (no count was configured)."""
    counts = {r.shards for _, r in folder.records() if r is not None}
    if len(counts) != 1:
        found = sorted(counts) or "no completion records"
        raise IncompleteError(
            f"cannot merge {folder.path}: expected the parts of one run, found shard "
            f"counts {found}; pass --shards N"
        )
    return counts.pop()


def _write_merge(folder: OutputFolder) -> None:
    summary = merge(folder)
    log.info(
        "merged %d shard(s): %s and %s, %d rows",
        folder.count,
        folder.path / MERGED,
        folder.path / SUMMARY,
        summary["rows"],
    )


if __name__ == "__main__":
    sys.exit(main())
