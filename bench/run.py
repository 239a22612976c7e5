"""Start each server pinned to core 0, drive it with wrk pinned to core 1, print one table.

Scenarios (one run, same machine, same load generator):

- ``baseline``: bench/baseline_app.py under uvicorn (no units), model ``mlp``.
- ``native``: ``python -m service`` (gunicorn, one uvicorn worker), ``POST /predict``
  with four inputs in their own units (two converted) and one output converted.
- ``native-domain``: ``native`` on ``mlp_domain`` (same weights, a validity domain on every
  input, every request inside it): the domain check's cost, against ``native``.
- ``oip``: the same server, ``POST /v2/models/mlp/infer`` with ``parameters.unit``.
- ``baseline-1ms``: the baseline on ``mlp1ms`` with 64 connections, for reference.
- ``batch-off`` / ``batch-on``: the server on ``mlp1ms`` with 64 connections, micro-batching
  disabled and enabled (``BATCH_ENABLED``); ``batch-on-inline`` runs the stacked forward
  on the event loop instead of the forward thread (``BATCH_INLINE_MS=50``).

- ``native-2w``: ``native`` with two workers (``WEB_CONCURRENCY=2``): what each extra worker
  costs in memory (PSS of the tree, against ``native``).

For each: requests/s, p50/p99 latency, non-2xx answers; the cold start to the first answer
(process start until ``/readyz`` answers 200, then the scenario's request answered); RSS and
PSS of the whole process tree after the load (a gunicorn master counts: every pod pays for
it); and, where a master replaces its one worker, the time from SIGKILL of that worker until
the request is answered again. Durations are flags so a smoke test can run the whole thing in
seconds.
"""

# ruff: noqa: S603, S607 - a benchmark driver: fixed argv of apt-get, taskset, wrk, python
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.models import MODELS, write_repository
from harness.ports import free_port
from harness.procs import pss_mib, rss_mib
from harness.server import SERVE, Server, server_env, serving, start
from loadtests.slo import machine as cpu_line

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("post.lua")
SERVER_CORE = "0"
LOAD_CORE = "1"
NATIVE_BODY: dict[str, Any] = {
    "model": "{model}",
    "inputs": {
        "length": {"value": 1.5, "unit": "m"},
        "speed": {"value": 72.0, "unit": "km/h"},
        "mass": {"value": 500.0, "unit": "g"},
        "duration": {"value": 2.0, "unit": "s"},
    },
    "outputs": {"energy": "kJ"},
}
OIP_BODY: dict[str, Any] = {
    "inputs": [
        {"name": n, "shape": [1], "datatype": "FP64", "parameters": {"unit": u}, "data": [v]}
        for n, u, v in (("length", "m", 1.5), ("speed", "km/h", 72.0), ("mass", "g", 500.0),
                        ("duration", "s", 2.0))
    ],
    "outputs": [{"name": "energy", "parameters": {"unit": "kJ"}}, {"name": "power"}],
}  # fmt: skip
BASELINE_BODY = {"inputs": [[1.5, 20.0, 0.5, 2.0]]}


@dataclass
class Result:
    """One scenario's numbers."""

    name: str
    connections: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    non_2xx: int = 0
    socket_errors: int = 0
    ready_s: float = 0.0
    first_answer_s: float = 0.0
    tree_rss_mib: float = 0.0
    tree_pss_mib: float = 0.0
    respawn_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian with apt-get when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package 'wrk')", file=sys.stderr)
    apt = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(apt, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(apt, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required: apt-get install -y wrk")
    return found


def worker_pid(server: Server) -> int:
    """The process that serves: gunicorn's one worker, or the server itself (uvicorn)."""
    return min(server.workers(), default=server.pid)


@contextmanager
def serve(
    argv: list[str], settings: dict[str, str], root: Path, workers: int = 1
) -> Iterator[Server]:
    """Start `argv` ("{port}" in it: a free port) pinned to the server core, with harness's
    server environment in `root` and `settings` on top; yield once /readyz answers 200 with
    `workers` running (``ready_s``). The log is `root` + ``.log``."""
    port = free_port()
    env = server_env(root, port, workers=workers, env={"PYTHONUNBUFFERED": "1", **settings})
    started = start(
        root,
        env,
        argv=[a.replace("{port}", str(port)) for a in argv],
        log=root.parent / f"{root.name}.log",
        cwd=ROOT,
        cores=[int(SERVER_CORE)],
    )
    gunicorn = workers if argv[: len(SERVE)] == list(SERVE) else 0
    with serving(started, workers=gunicorn, interval=0.005, stop_timeout=30) as server:
        yield server


def drive(
    wrk: str, port: int, path: str, body: Path, connections: int, seconds: float
) -> dict[str, Any]:
    """Run wrk pinned to the load core; returns the JSON line post.lua prints."""
    argv = [
        "taskset", "-c", LOAD_CORE, wrk, "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}{path}", "--", str(body),
    ]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    return dict(json.loads(line.removeprefix("BENCH_JSON ")))


def post(port: int, path: str, body: bytes, timeout: float = 5.0) -> int:
    """One request on a fresh connection; its status (0: refused, reset or timed out)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def answered_after(port: int, path: str, body: bytes, since: float, timeout: float = 120) -> float:
    """Seconds from `since` (``time.monotonic()``) until the request is answered 200."""
    deadline = since + timeout
    while post(port, path, body, timeout=2.0) != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} not answered within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - since


def respawn(server: Server, path: str, body: bytes) -> float | None:
    """SIGKILL the one worker, then the seconds until the request is answered again: by the
    worker the master forks in its place, which has loaded the app. None without exactly one
    worker (no master to replace it, or another worker that would answer meanwhile)."""
    workers = server.workers()
    if len(workers) != 1:
        return None
    killed = time.monotonic()
    os.kill(workers.pop(), signal.SIGKILL)
    return answered_after(server.port, path, body, killed)


def scenario(
    wrk: str, name: str, argv: list[str], env: dict[str, str], path: str, body: dict[str, Any],
    connections: int, seconds: float, warmup: float, starts: int, work: Path,
) -> Result:  # fmt: skip
    """Start the server `starts` times for its first answer (the median is reported: one
    start varies by a second on a shared machine); on the last start warm it up, measure,
    take the memory of its process tree, then kill its worker and time the replacement."""
    body_file = work / f"{name}.json"
    body_file.write_text(json.dumps(body))
    data = body_file.read_bytes()
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    firsts = []
    for attempt in range(starts - 1):
        with serve(argv, env, work / f"{name}-start{attempt}", workers) as server:
            firsts.append(answered_after(server.port, path, data, server.started))
    with serve(argv, env, work / name, workers) as server:
        firsts.append(answered_after(server.port, path, data, server.started))
        first = statistics.median(firsts)
        if warmup > 0:
            drive(wrk, server.port, path, body_file, connections, warmup)
        stats = drive(wrk, server.port, path, body_file, connections, seconds)
        pids = server.pids()
        rss, pss = rss_mib(pids), pss_mib(pids)
        replaced = respawn(server, path, data)
    return Result(
        name=name,
        connections=connections,
        rps=stats["rps"],
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        non_2xx=stats["non_2xx"],
        socket_errors=stats["socket_errors"],
        ready_s=server.ready_s,
        first_answer_s=first,
        tree_rss_mib=rss,
        tree_pss_mib=pss,
        respawn_s=replaced,
    )


def service_settings(repo: Path, model: str) -> dict[str, str]:
    """The server's settings in a scenario, on top of harness's environment (one worker, its
    own HOME, TMPDIR and metrics folder): a repository holding only the scenario's model (the
    baseline loads one model too, so memory compares like with like), one torch thread."""
    return {"MODEL_REPOSITORY": str(repo), "DEFAULT_MODEL": model, "TORCH_THREADS": "1"}


def run(seconds: float, warmup: float, starts: int, only: set[str] | None) -> list[Result]:
    """Every scenario in one run; `only` keeps a subset (names as in the table)."""
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="dimtensor-bench-"))
    repos = {name: write_repository(work / f"models-{name}", [name]) for name in MODELS}
    python = sys.executable
    service_env = service_settings(repos["mlp"], "mlp")
    service_1ms = service_settings(repos["mlp1ms"], "mlp1ms")
    service_domain = service_settings(repos["mlp_domain"], "mlp_domain")
    baseline_argv = [
        python, "-m", "uvicorn", "bench.baseline_app:app", "--host", "127.0.0.1",
        "--port", "{port}", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server_argv = list(SERVE)
    native = json.loads(json.dumps(NATIVE_BODY).replace("{model}", "mlp"))
    native_1ms = json.loads(json.dumps(NATIVE_BODY).replace("{model}", "mlp1ms"))
    native_domain = json.loads(json.dumps(NATIVE_BODY).replace("{model}", "mlp_domain"))
    plan: list[tuple[str, list[str], dict[str, str], str, dict[str, Any], int]] = [
        ("baseline", baseline_argv, {"BENCH_MODEL": str(repos["mlp"] / "mlp" / "1")},
         "/predict", BASELINE_BODY, 16),
        ("native", server_argv, service_env, "/predict", native, 16),
        ("native-domain", server_argv, service_domain, "/predict", native_domain, 16),
        ("native-2w", server_argv, {**service_env, "WEB_CONCURRENCY": "2"}, "/predict", native,
         16),
        ("oip", server_argv, service_env, "/v2/models/mlp/infer", OIP_BODY, 16),
        ("baseline-1ms", baseline_argv, {"BENCH_MODEL": str(repos["mlp1ms"] / "mlp1ms" / "1")},
         "/predict", BASELINE_BODY, 64),
        ("batch-off", server_argv, {**service_1ms, "BATCH_ENABLED": "false"}, "/predict",
         native_1ms, 64),
        ("batch-on", server_argv, {**service_1ms, "BATCH_ENABLED": "true"}, "/predict",
         native_1ms, 64),
        ("batch-on-inline", server_argv,
         {**service_1ms, "BATCH_ENABLED": "true", "BATCH_INLINE_MS": "50"}, "/predict",
         native_1ms, 64),
    ]  # fmt: skip
    results = []
    for name, argv, env, path, body, conns in plan:
        if only and name not in only:
            continue
        print(f"... {name}", file=sys.stderr, flush=True)
        results.append(
            scenario(wrk, name, argv, env, path, body, conns, seconds, warmup, starts, work)
        )
    shutil.rmtree(work, ignore_errors=True)
    return results


REFERENCE = {
    "native": "baseline",
    "native-domain": "native",
    "native-2w": "native",
    "oip": "baseline",
    "batch-off": "baseline-1ms",
    "batch-on": "batch-off",
    "batch-on-inline": "batch-off",
}
"""Each scenario's reference in the same run: the ratios in the table are against it."""


def table(results: list[Result]) -> str:
    """The results as a Markdown table, with ratios to the reference of each scenario (req/s,
    the first answer and the tree's RSS), and a line for what an extra worker costs."""
    by_name = {r.name: r for r in results}
    lines = [
        "| scenario | conns | req/s | ratio | p50 ms | p99 ms | non-2xx | ready s | "
        "first answer s | tree RSS MiB | tree PSS MiB | worker respawn s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ref = by_name.get(REFERENCE.get(r.name, ""))
        ratio = f"{r.rps / ref.rps:.2f}x {ref.name}" if ref and ref.rps else "-"
        first = f"{r.first_answer_s:.2f}" + _times(
            r.first_answer_s, ref.first_answer_s if ref else 0
        )
        rss = f"{r.tree_rss_mib:.0f}" + _times(r.tree_rss_mib, ref.tree_rss_mib if ref else 0)
        respawn_s = "-" if r.respawn_s is None else f"{r.respawn_s:.2f}"
        lines.append(
            f"| {r.name} | {r.connections} | {r.rps:,.0f} | {ratio} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.non_2xx + r.socket_errors} | {r.ready_s:.2f} | {first} | "
            f"{rss} | {r.tree_pss_mib:.0f} | {respawn_s} |"
        )
    one, two = by_name.get("native"), by_name.get("native-2w")
    if one and two:
        extra = two.tree_pss_mib - one.tree_pss_mib
        lines += ["", f"PSS of one extra worker (native-2w - native): {extra:.0f} MiB"]
    return "\n".join(lines)


def _times(value: float, reference: float) -> str:
    """`` (1.23x)``: value over its reference, when there is one."""
    return f" ({value / reference:.2f}x)" if reference else ""


def machine() -> str:
    """One line naming the machine the numbers come from (and its kernel)."""
    return f"{cpu_line()}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run, print the machine line and the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument(
        "--starts", type=int, default=3, help="cold starts per scenario (the median is shown)"
    )
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2 and (os.cpu_count() or 1) < 2:
        raise SystemExit("the benchmark needs two cores: one for the server, one for wrk")
    results = run(args.seconds, args.warmup, args.starts, set(args.only) if args.only else None)
    print(f"machine: {machine()}")
    print(f"server pinned to core {SERVER_CORE}, wrk (2 threads) pinned to core {LOAD_CORE}")
    print(table(results))
