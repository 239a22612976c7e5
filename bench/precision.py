"""What the precision of the answers costs: bytes per response body and requests/s of a
32-row request, native ``POST /predict`` and OIP ``POST /v2/models/mlp/infer`` (JSON), on the
benchmark's ``mlp`` (bench/models.py), for one or more source trees in one run.

Each scenario starts the real server (``python -m service``: gunicorn, one uvicorn worker, one
torch thread, a repository holding only ``mlp``) pinned to core 0, sends one request to read
its answer's size (every request is the same, so every answer is too), then drives it with
wrk (2 threads, 16 connections, bench/post.lua) pinned to core 1: ``--warmup`` seconds
unmeasured, ``--seconds`` measured. The request converts two inputs and one output, as the
main benchmark's does, with 32 rows of distinct values.

Usage (two free cores, wrk installed: ``apt-get install -y wrk``)::

    python -m bench.precision                       # this tree, about 25 s
    python -m bench.precision --seconds 10 --warmup 2 --tree /tmp/before --tree .

``--tree`` runs the server from another checkout of the project (``PYTHONPATH`` and the
working directory point at it; this script and its imports, harness/ and bench/models.py,
come from the tree it is run from, and import nothing of ``service``). Before/after numbers
from one run, same machine::

    git worktree add /tmp/before <commit before the change>
    python -m bench.precision --tree /tmp/before --tree .
    git worktree remove /tmp/before

The table has one row per tree and protocol; the ratios are against the first tree.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.models import write_repository
from bench.run import LOAD_CORE, SERVER_CORE, drive, ensure_wrk
from harness.ports import free_port
from harness.server import SERVE, server_env, serving, start

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROWS = 32
CONNECTIONS = 16


def _column(start: float, stop: float) -> list[float]:
    """`ROWS` distinct values from `start` to `stop` (a realistic spread of digits)."""
    return [round(start + (stop - start) * i / (ROWS - 1), 6) for i in range(ROWS)]


INPUTS = {  # name: (unit, values); speed and mass are converted into the model's units
    "length": ("m", _column(0.5, 3.0)),
    "speed": ("km/h", _column(10.0, 120.0)),
    "mass": ("g", _column(100.0, 2000.0)),
    "duration": ("s", _column(0.5, 4.0)),
}
NATIVE: dict[str, Any] = {
    "model": "mlp",
    "inputs": {n: {"value": v, "unit": u} for n, (u, v) in INPUTS.items()},
    "outputs": {"energy": "kJ"},
}
OIP: dict[str, Any] = {
    "inputs": [
        {"name": n, "shape": [ROWS], "datatype": "FP64", "parameters": {"unit": u}, "data": v}
        for n, (u, v) in INPUTS.items()
    ],
    "outputs": [{"name": "energy", "parameters": {"unit": "kJ"}}, {"name": "power"}],
}
SCENARIOS = (("native", "/predict", NATIVE), ("oip", "/v2/models/mlp/infer", OIP))


@dataclass
class Row:
    """One tree's numbers for one protocol."""

    tree: str
    protocol: str
    body_bytes: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def answer(port: int, path: str, body: bytes) -> bytes:
    """One request's response body (refuses anything but 200: the numbers would lie)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, {"content-type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}: {data[:300]!r}")
    return data


def measure(
    wrk: str, tree: Path, repo: Path, work: Path, seconds: float, warmup: float
) -> list[Row]:
    """Both protocols against one server started from `tree`."""
    port = free_port()
    settings = {
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(tree),
        "MODEL_REPOSITORY": str(repo),
        "DEFAULT_MODEL": "mlp",
        "TORCH_THREADS": "1",
    }
    root = work / f"server-{len(list(work.glob('server-*')))}"
    env = server_env(root, port, env=settings)
    log = root.parent / f"{root.name}.log"
    server = start(root, env, argv=SERVE, log=log, cwd=tree, cores=[int(SERVER_CORE)])
    rows = []
    with serving(server, workers=1, stop_timeout=30):
        for protocol, path, doc in SCENARIOS:
            body_file = work / f"{protocol}.json"
            body_file.write_text(json.dumps(doc))
            size = len(answer(port, path, body_file.read_bytes()))
            if warmup > 0:
                drive(wrk, port, path, body_file, CONNECTIONS, warmup)
            stats = drive(wrk, port, path, body_file, CONNECTIONS, seconds)
            rows.append(
                Row(
                    tree=str(tree),
                    protocol=protocol,
                    body_bytes=size,
                    rps=stats["rps"],
                    p50_ms=stats["p50_us"] / 1000,
                    p99_ms=stats["p99_us"] / 1000,
                    errors=stats["non_2xx"] + stats["socket_errors"],
                )
            )
    return rows


def table(rows: list[Row]) -> str:
    """A Markdown table; bytes and requests/s also as ratios to the first tree's."""
    first = {r.protocol: r for r in rows if r.tree == rows[0].tree}
    lines = [
        "| tree | protocol | rows | response bytes | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = first[r.protocol]
        size, rps = f"{r.body_bytes:,}", f"{r.rps:,.0f}"
        if ref is not r:
            size += f" ({r.body_bytes / ref.body_bytes:.2f}x)"
            rps += f" ({r.rps / ref.rps:.2f}x)" if ref.rps else ""
        lines.append(
            f"| {r.tree} | {r.protocol} | {ROWS} | {size} | {rps} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, measure every tree in turn, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.precision", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds each")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--tree",
        action="append",
        type=Path,
        help="a checkout of the project to serve from (repeatable; default: this one)",
    )
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores: one for the server, one for wrk")
    wrk = ensure_wrk()
    trees = [t.resolve() for t in args.tree or [ROOT]]
    work = Path(tempfile.mkdtemp(prefix="dimtensor-precision-"))
    try:
        repo = write_repository(work / "models", ["mlp"])
        rows = [r for t in trees for r in measure(wrk, t, repo, work, args.seconds, args.warmup)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"server pinned to core {SERVER_CORE}, wrk (2 threads, {CONNECTIONS} connections)")
    print(f"pinned to core {LOAD_CORE}; {args.seconds:g} s measured after {args.warmup:g} s")
    print(table(rows))


if __name__ == "__main__":
    main()
