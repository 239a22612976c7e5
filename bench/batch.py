"""``python -m bench.batch``: batch ``predict`` against a bare loop, and its peak memory.

One run, one machine, one core each (``taskset`` to the same core, one torch thread):

- ``bare``: the loop anyone would write without units: ``pyarrow`` reads row groups, the four
  columns stack into a float32 tensor, the benchmark MLP (``bench.models``, 4 -> 64 -> 64 -> 2,
  the same weights) runs its forward pass, and a ``ParquetWriter`` writes the same columns the
  batch job writes (row number, the four inputs, the two outputs as float64).
- ``batch``: ``dimtensor-batch run`` on a ``predict`` config over the same file, whose columns
  carry units (cm, km/h, g, ms: three need a conversion) and one output converted (kJ).

Each is a fresh process (``--child``), so its peak RSS (``ru_maxrss``) is its own; the table
gives rows/s, the ratio to ``bare`` and the peak RSS for every row count asked (``--rows``),
so that "memory does not grow with the file" is read off one table. Timed from process
start to exit minus the imports (both pay the same ``import torch``).
"""

# ruff: noqa: S603, S607 - a benchmark driver: fixed argv of taskset and python
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "table"]

UNITS = {"length": "cm", "speed": "km/h", "mass": "g", "duration": "ms"}
CHUNK = 65_536


def write_input(path: Path, rows: int) -> None:
    """`rows` random measurements with their units, in row groups of CHUNK rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    fields = [pa.field(n, pa.float64(), metadata={b"unit": u.encode()}) for n, u in UNITS.items()]
    schema = pa.schema(fields)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            arrays = [pa.array(rng.uniform(1, 100, n)) for _ in UNITS]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=n)


def bare(source: Path, out: Path, repository: Path) -> int:
    """The loop without units; returns the rows scored."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from safetensors.torch import load_file

    from bench.models import MODELS
    from service.models import ArchitectureSpec, resolve_architecture

    torch.set_num_threads(1)
    spec = {"name": "mlp", "params": {"in_features": 4, "out_features": 2, "hidden": MODELS["mlp"]}}
    module = resolve_architecture(ArchitectureSpec.model_validate(spec)).build()
    module.load_state_dict(load_file(str(repository / "mlp" / "1" / "weights.safetensors")))
    module.eval()
    names = list(UNITS)
    schema = pa.schema(
        [pa.field("row", pa.int64())]
        + [pa.field(n, pa.float64()) for n in (*names, "energy", "power")]
    )
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in pq.ParquetFile(source, pre_buffer=False).iter_batches(
            batch_size=CHUNK, use_threads=False
        ):
            columns = [batch.column(n).to_numpy() for n in names]
            x = torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))
            with torch.inference_mode():
                y = module(x).numpy().astype(np.float64)
            n = batch.num_rows
            arrays = [np.arange(rows, rows + n), *columns, y[:, 0].copy(), y[:, 1].copy()]
            writer.write_batch(
                pa.RecordBatch.from_arrays([pa.array(a) for a in arrays], schema=schema)
            )
            rows += n
    return rows


def batch(source: Path, out: Path, repository: Path) -> int:
    """``dimtensor-batch run`` on a predict config over `source`; returns the rows scored."""
    import pyarrow.parquet as pq
    import yaml

    from batch.cli import main as batch_main

    config = out.parent / "predict.yaml"
    doc = {
        "kind": "predict",
        "model": "mlp",
        "input": str(source),
        "outputs": {"energy": "kJ"},
        "output": str(out),
    }
    config.write_text(yaml.safe_dump(doc))
    os.environ["MODEL_REPOSITORY"] = str(repository)
    os.environ["BATCH_CHUNK_ROWS"] = str(CHUNK)
    os.environ["TORCH_THREADS"] = "1"
    if batch_main(["run", str(config)]) != 0:
        raise SystemExit("dimtensor-batch run failed")
    return int(pq.read_metadata(out / "part-00000-of-00001.parquet").num_rows)


def child(kind: str, source: Path, out: Path, repository: Path) -> None:
    """Run one workload in this process and print its JSON result."""
    import numpy  # noqa: F401 - the imports both workloads pay, outside the timing
    import pyarrow.parquet  # noqa: F401
    import torch  # noqa: F401

    import service.dataplane  # noqa: F401

    started = time.perf_counter()
    rows = (bare if kind == "bare" else batch)(source, out, repository)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    print(json.dumps({"kind": kind, "rows": rows, "seconds": seconds, "rss_mib": peak}))


def _run_child(kind: str, source: Path, work: Path, repository: Path) -> dict[str, Any]:
    out = work / kind
    out.mkdir(parents=True, exist_ok=True)
    target = out / "bare.parquet" if kind == "bare" else out / "out"
    argv = [
        sys.executable,
        "-m",
        "bench.batch",
        "--child",
        kind,
        str(source),
        str(target),
        str(repository),
    ]
    if len(os.sched_getaffinity(0)) > 1:
        argv = ["taskset", "-c", "0", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(row_counts: list[int], repeats: int) -> list[dict[str, Any]]:
    """For each row count: the best of `repeats` runs of each workload, alternated."""
    from bench.models import write_repository

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        repository = write_repository(root / "models")
        for rows in row_counts:
            source = root / f"input-{rows}.parquet"
            write_input(source, rows)
            best: dict[str, dict[str, Any]] = {}
            for attempt in range(repeats):
                for kind in ("bare", "batch"):
                    work = root / f"run-{rows}-{attempt}"
                    result = _run_child(kind, source, work, repository)
                    if kind not in best or result["seconds"] < best[kind]["seconds"]:
                        best[kind] = result
                    subprocess.run(["rm", "-rf", str(work / kind)], check=True)
            results.extend(best[k] for k in ("bare", "batch"))
            source.unlink()
    return results


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: rows/s, the ratio to the bare loop of the same row count, peak RSS."""
    lines = [
        "| workload | rows | seconds | rows/s | vs bare | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    bare_rate = {r["rows"]: r["rows"] / r["seconds"] for r in results if r["kind"] == "bare"}
    for r in results:
        rate = r["rows"] / r["seconds"]
        ratio = rate / bare_rate[r["rows"]] if r["rows"] in bare_rate else float("nan")
        lines.append(
            f"| {r['kind']} | {r['rows']:,} | {r['seconds']:.2f} | {rate:,.0f} | "
            f"{ratio:.2f}x | {r['rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "SOURCE", "OUT", "REPOSITORY"))
    args = parser.parse_args(argv)
    if args.child:
        kind, source, out, repository = args.child
        child(kind, Path(source), Path(out), Path(repository))
        return
    results = run(args.rows, args.repeats)
    print(table(results))


if __name__ == "__main__":
    main()
