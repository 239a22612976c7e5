"""Where the time goes per request: py-spy samples of the server's worker under wrk load.

``python -m bench.profile native`` (or ``oip``): starts the server as ``python -m bench``
does (pinned to core 0, one worker, the ``mlp`` model), drives it with wrk on core 1,
samples the worker with ``py-spy record --nonblocking -r 1000`` (also on core 1, so the
sampler does not take the server's core), and prints each part's share of the worker's
busy samples and the microseconds per request that share stands for. A sample is given
to the innermost frame that belongs to a part: C time inside torch counts as the model,
uvicorn's protocol and the event loop as the server, and so on (see ``PARTS``).
"""

# ruff: noqa: S603, S607 - a benchmark driver: fixed argv of taskset and py-spy
from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.models import write_repository
from bench.run import (
    LOAD_CORE,
    NATIVE_BODY,
    OIP_BODY,
    drive,
    ensure_wrk,
    serve,
    service_settings,
    worker_pid,
)
from harness.server import SERVE

__all__ = ["PARTS", "main", "shares"]

PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("model: torch forward and LoadedModel.predict", ("torch/", "service/models/")),
    ("core: prepare, finish, conversions", ("service/dataplane.py", "service/units/",
                                            "service/tensors.py")),
    ("metrics tallies", ("service/metrics/", "prometheus_client")),
    ("access log", ("service/logs.py",)),
    ("operations middleware: ids, limits, deadline, send wrapper",
     ("service/rest/operations.py",)),
    ("door: body parse and validation, response JSON", ("service/rest/native/",
                                                       "service/rest/oip/", "service/rest/asgi.py",
                                                       "service/rest/routing.py", "pydantic",
                                                       "orjson", "starlette/responses.py")),
    ("FastAPI/Starlette app entry", ("fastapi/", "starlette/")),
    ("uvicorn protocol and event loop", ("uvicorn", "asyncio", "uvloop", "httptools", "gunicorn")),
]  # fmt: skip


def shares(raw: str) -> dict[str, int]:
    """Samples per part from py-spy's raw (collapsed stack) output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.strip().isdigit():
            continue
        part = "other"
        for frame in reversed(stack.split(";")):
            hit = next((name for name, keys in PARTS if any(k in frame for k in keys)), None)
            if hit is not None:
                part = hit
                break
        counts[part] += int(n)
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    """Run the load, sample, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("door", choices=["native", "oip"])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    work = Path(tempfile.mkdtemp(prefix="dimtensor-profile-"))
    repo = write_repository(work / "models", ["mlp"])
    settings = service_settings(repo, "mlp")
    native = json.loads(json.dumps(NATIVE_BODY).replace("{model}", "mlp"))
    body, path = (
        (native, "/predict") if args.door == "native" else (OIP_BODY, "/v2/models/mlp/infer")
    )
    body_file = work / "body.json"
    body_file.write_text(json.dumps(body))
    wrk, out = ensure_wrk(), work / "samples.txt"
    with serve(list(SERVE), settings, work / "server") as server:
        port = server.port
        drive(wrk, port, path, body_file, 16, 2)  # warm-up
        sampler = subprocess.Popen(
            ["taskset", "-c", LOAD_CORE, spy, "record", "--nonblocking", "-r", "1000", "-f", "raw",
             "-d", str(round(args.seconds)), "-o", str(out), "-p", str(worker_pid(server))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        stats = drive(wrk, port, path, body_file, 16, args.seconds - 1)
        sampler.wait()
    counts = shares(out.read_text())
    total = sum(counts.values()) or 1
    per_request = 1e6 / stats["rps"]
    print(f"{args.door}: {stats['rps']:,.0f} req/s under sampling, {total} busy samples")
    print("| part | share | about |\n|---|---|---|")
    for part, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"| {part} | {100 * n / total:.0f} % | {per_request * n / total:.0f} us |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
