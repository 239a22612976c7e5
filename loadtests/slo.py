"""The SLO run, one command: ``python -m loadtests.slo [--slo loadtests/slo.yaml]``.

Starts the server (``python -m service``, the SLO file's workers and threads) on loopback,
pinned to its own cores, runs the locustfile headless on the other cores for a bounded time
with as many Locust processes as it has cores, and writes into ``--out``:

- ``locust_stats.csv``, ``locust_stats_history.csv``, ``locust_failures.csv``,
  ``locust_exceptions.csv``, ``report.html`` and ``locust.json``: Locust's own reports;
- ``verdict.json``: the locustfile's SLO gate (each objective, measured and bound);
- ``slo-report.json`` and ``slo-report.md``: the verdict with the run's settings, the
  generator's and server's CPU, the server's memory and every request kind's figures;
- ``server/server.log``.

Exit codes (the project's one table, ``jobkit.exits``): 0 every objective met; 5 one missed; 2
the SLO file or a flag is wrong; 6 the load generator's CPU was saturated (above
``generator.max_cpu_percent`` in one process), so the numbers are not the server's and no
verdict is given; 7 Locust failed without a verdict; 1 a crash.
``--url`` runs the same load and gates against a server that is already running (a
port-forward or an ingress), without starting one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.cpu import CpuWatch
from harness.procs import rss_mib
from harness.server import Server
from jobkit.exits import ExitCode
from loadtests.local import locust_argv, serve, split_cores

__all__ = ["SloFile", "load_slo_file", "main", "run"]

DEFAULT_SLO = Path(__file__).with_name("slo.yaml")
OBJECTIVE_TEXT = {
    "max_failure_ratio": "failed / all requests at most",
    "p95_ms": "p95 latency at most (ms)",
    "p99_ms": "p99 latency at most (ms)",
    "min_rps": "throughput at least (requests/s)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Objectives(_Strict):
    """The gates; a missing one is not checked."""

    max_failure_ratio: float | None = Field(None, ge=0, le=1)
    p95_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    min_rps: float | None = Field(None, ge=0)


class Load(_Strict):
    """The traffic: a shape of users, each sending `user_rps` requests/s."""

    shape: Literal["steady", "step", "spike"] = "steady"
    users: int = Field(20, ge=1)
    user_rps: float = Field(10.0, ge=0)
    seconds: float = Field(60.0, gt=0)
    steps: int = Field(4, ge=1)
    invalid_share: float = Field(0.05, ge=0, le=1)
    max_rows: int = Field(256, ge=1)


class ServerSpec(_Strict):
    """The server as a pod runs it (values-inference.yaml: one worker, one torch thread)."""

    workers: int = Field(1, ge=1)
    torch_threads: int = Field(1, ge=1)
    env: dict[str, str] = {}


class Generator(_Strict):
    """Locust: processes (None: one per core left to it) and its CPU ceiling."""

    processes: int | None = Field(None, ge=1)
    max_cpu_percent: float = Field(90.0, gt=0, le=100)


class SloFile(_Strict):
    """The checked-in SLO file (``loadtests/slo.yaml``)."""

    objectives: Objectives
    load: Load = Load()
    server: ServerSpec = ServerSpec()
    generator: Generator = Generator()


def load_slo_file(path: Path) -> SloFile:
    """Read and validate an SLO file (unknown keys refused)."""
    return SloFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def _locust_options(slo: SloFile, out: Path) -> list[str]:
    load, objectives = slo.load, slo.objectives
    opts = [
        f"--load-shape={load.shape}",
        f"--shape-users={load.users}",
        f"--shape-seconds={load.seconds}",
        f"--shape-steps={load.steps}",
        f"--user-rps={load.user_rps}",
        f"--invalid-share={load.invalid_share}",
        f"--max-rows={load.max_rows}",
        f"--csv={out / 'locust'}",
        "--csv-full-history",
        f"--html={out / 'report.html'}",
        f"--json-file={out / 'locust'}",
        f"--verdict-file={out / 'verdict.json'}",
        "--only-summary",
    ]
    for key, bound in objectives.model_dump().items():
        if bound is not None:
            opts.append(f"--slo-{key.replace('_', '-')}={bound}")
    return opts


def read_stats(path: Path) -> list[dict[str, str]]:
    """Locust's ``*_stats.csv`` rows (the last one is ``Aggregated``)."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run(slo: SloFile, out: Path, *, url: str | None = None) -> tuple[int, dict[str, Any]]:
    """One SLO run; returns (exit code, report). Writes every report into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("verdict.json", "slo-report.json", "slo-report.md"):
        (out / stale).unlink(missing_ok=True)
    server_cores, load_cores = split_cores(slo.server.workers)
    processes = slo.generator.processes or (len(load_cores) if url is None else os.cpu_count() or 1)
    starting = (
        serve(
            out / "server",
            workers=slo.server.workers,
            torch_threads=slo.server.torch_threads,
            cores=server_cores if server_cores != load_cores else None,
            **slo.server.env,
        )
        if url is None
        else nullcontext(None)
    )
    with starting as server:
        target = server.url if server is not None else str(url)
        argv = locust_argv(target, processes, *_locust_options(slo, out))
        pinned = load_cores if server is not None and server_cores != load_cores else None
        started = time.monotonic()
        server_watch = CpuWatch(server.proc.pid, skip=2.0).start() if server else None
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed argv
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None,
        )
        generator_watch = CpuWatch(proc.pid, skip=3.0).start()
        output, _ = proc.communicate(timeout=slo.load.seconds + 120)
        generator_watch.stop()
        if server_watch is not None:
            server_watch.stop()
        elapsed = time.monotonic() - started
        server_rss = rss_mib(server.pids()) if server is not None else None
    (out / "locust.log").write_text(output, encoding="utf-8")
    report = _report(slo, out, target, proc.returncode, elapsed, processes)
    report["generator_cpu_busiest_percent"] = generator_watch.busiest()
    report["server"] = _server_figures(server, server_watch, server_rss)
    code = _exit_code(slo, report)
    report["exit_code"] = code
    (out / "slo-report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "slo-report.md").write_text(markdown(report), encoding="utf-8")
    return code, report


def _server_figures(
    server: Server | None, watch: CpuWatch | None, rss: float | None
) -> dict[str, Any] | None:
    if server is None or watch is None:
        return None
    return {
        "cores": server.cores,
        "cpu_percent_of_one_core": watch.total(),
        "rss_mib": rss,
    }


def _report(
    slo: SloFile, out: Path, url: str, locust_code: int, elapsed: float, processes: int
) -> dict[str, Any]:
    verdict_path = out / "verdict.json"
    verdict = json.loads(verdict_path.read_text()) if verdict_path.is_file() else None
    stats_path = out / "locust_stats.csv"
    rows = read_stats(stats_path) if stats_path.is_file() else []
    return {
        "machine": machine(),
        "url": url,
        "slo": slo.model_dump(),
        "generator_processes": processes,
        "seconds": elapsed,
        "locust_exit_code": locust_code,
        "load_average_after": os.getloadavg()[0],
        "verdict": verdict,
        "requests": [
            {
                "name": r["Name"],
                "requests": int(r["Request Count"]),
                "failures": int(r["Failure Count"]),
                "rps": float(r["Requests/s"]),
                "p50_ms": float(r["50%"]),
                "p95_ms": float(r["95%"]),
                "p99_ms": float(r["99%"]),
            }
            for r in rows
        ],
    }


def _exit_code(slo: SloFile, report: dict[str, Any]) -> int:
    verdict = report["verdict"]
    if report["generator_cpu_busiest_percent"] > slo.generator.max_cpu_percent:
        return ExitCode.GENERATOR_SATURATED
    if verdict is None:
        return ExitCode.GENERATOR_FAILED
    return int(verdict["exit_code"])


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: run, objectives, CPU, then every request kind."""
    slo, verdict = report["slo"], report["verdict"] or {"objectives": []}
    load = slo["load"]
    server_text = (
        f"{slo['server']['workers']} worker(s), {slo['server']['torch_threads']} torch "
        f"thread(s), cores {report['server']['cores']}"
        if report["server"]
        else f"{report['url']} (not started by this run)"
    )
    lines = [
        f"Machine: {report['machine']}. Server: {server_text}; Locust: "
        f"{report['generator_processes']} process(es). Load: {load['shape']}, "
        f"{load['users']} users x {load['user_rps']:g} req/s for {load['seconds']:g} s "
        f"(offered {load['users'] * load['user_rps']:g} req/s), "
        f"{load['invalid_share']:.0%} invalid, up to {load['max_rows']} rows. Load average "
        f"(1 min) after the run: {report.get('load_average_after', 0):.1f}.",
        "",
        "| objective | bound | measured | |",
        "|---|---|---|---|",
    ]
    for o in verdict["objectives"]:
        mark = "met" if o["met"] else "**MISSED**"
        text = OBJECTIVE_TEXT[o["objective"]]
        lines.append(f"| {text} | {o['bound']:g} | {o['measured']:.4g} | {mark} |")
    server = report["server"] or {}
    lines += [
        "",
        f"Exit code {report['exit_code']}. Generator: busiest process "
        f"{report['generator_cpu_busiest_percent']:.0f} % of a core (ceiling "
        f"{slo['generator']['max_cpu_percent']:g} %). Server: "
        f"{server.get('cpu_percent_of_one_core', 0):.0f} % of a core, RSS "
        f"{server.get('rss_mib') or 0:.0f} MiB (master and workers).",
        "",
        "| request | count | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["requests"]:
        lines.append(
            f"| {r['name']} | {r['requests']:,} | {r['failures']} | {r['rps']:.1f} | "
            f"{r['p50_ms']:g} | {r['p95_ms']:g} | {r['p99_ms']:g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run, print one line per objective; the exit code is the verdict."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.slo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--slo", type=Path, default=DEFAULT_SLO, help="SLO file (YAML)")
    parser.add_argument("--out", type=Path, default=Path("out/slo"), help="report folder")
    parser.add_argument("--url", help="gate an already running server instead of starting one")
    parser.add_argument("--seconds", type=float, help="override load.seconds")
    parser.add_argument("--users", type=int, help="override load.users")
    parser.add_argument("--user-rps", type=float, help="override load.user_rps")
    parser.add_argument("--processes", type=int, help="override generator.processes")
    args = parser.parse_args(argv)
    try:
        slo = load_slo_file(args.slo)
        overrides = {"seconds": args.seconds, "users": args.users, "user_rps": args.user_rps}
        load = slo.load.model_dump() | {k: v for k, v in overrides.items() if v is not None}
        slo = slo.model_copy(update={"load": Load.model_validate(load)})
        if args.processes:
            slo.generator.processes = args.processes
    except (OSError, ValidationError, yaml.YAMLError) as exc:
        print(f"slo: {args.slo}: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    code, report = run(slo, args.out, url=args.url)
    for o in (report["verdict"] or {}).get("objectives", []):
        mark = "met" if o["met"] else "MISSED"
        print(
            f"{OBJECTIVE_TEXT[o['objective']]} {o['bound']:g}: measured {o['measured']:.4g}: {mark}"
        )
    busiest = report["generator_cpu_busiest_percent"]
    print(f"load generator: busiest process {busiest:.0f} % of a core")
    if code == ExitCode.GENERATOR_SATURATED:
        print(
            "FAILED: the load generator's CPU was saturated; the numbers are not the "
            "server's (more cores or processes for Locust, or less load)"
        )
    elif code == ExitCode.GENERATOR_FAILED:
        print(
            f"FAILED: Locust exited {report['locust_exit_code']} without a verdict; see "
            f"{args.out / 'locust.log'}"
        )
    print(f"{'PASS' if code == 0 else 'FAIL'}: reports in {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
