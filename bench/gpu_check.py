"""``python -m bench.gpu_check``: the working half of ``scripts/gpu-check.sh``, the prepared check
of a machine with an NVIDIA GPU (docs/images.md, "Checking a GPU node"). The script runs the
subcommands in this order, in one work folder:

- ``device``: one line saying what torch sees, ``gpu: ...`` (exit 0) or ``no GPU: ...`` (exit
  3). Without a GPU the script runs the CPU half only: training, serving and measuring on the
  CPU, so that CI can run it.
- ``train WORK --device D``: ``examples/training/oscillator.yaml`` (its steps unless told fewer)
  trained by ``python -m training run`` with ``TRAIN_DEVICE=D`` and exported into
  ``WORK/models``; ``WORK/train.json`` keeps the device, the steps, the seconds and the error
  against the analytic solution.
- ``measure WORK --device D --json FILE``: serves the export on loopback with ``MODEL_DEVICE=D``
  and, when D is not the CPU, also with ``MODEL_DEVICE=cpu``; asks each the same ``/predict``
  (t in ms, x in mm, ``ROWS`` rows); fails (exit 1) unless D's answer equals the CPU server's,
  and the CPU server's equals the export's forward pass in this process, within ``TOLERANCE``
  of the answer's scale. Then the throughput of the forward pass (rows/s at a few batch
  sizes) and of ``/predict`` (requests/s and rows/s of a short closed loop) on each device:
  a table on stdout, everything in FILE as JSON.

Why ``TOLERANCE`` is 1e-4 of the answer's largest magnitude (x crosses zero, so a relative error
per row means nothing): the servers compute in float32 (24 bits, 6e-8); two devices differ by
the order of their sums and the last bits of sin, cos and tanh. The whole float32 network
differs from the same network in float64 by 8.6e-6 of the scale (the example trained on the
CPU), so two float32 devices differ by about that: 1e-4 leaves ten times more. TF32 (NVIDIA
Ampere and later, when ``torch.backends.cuda.matmul.allow_tf32`` or
``torch.set_float32_matmul_precision("high")`` turns it on; torch's default is off) rounds a
matrix product's inputs to 10 bits: emulated on the CPU it moves this model's answer by 1.4 %
of its scale (its Fourier features multiply t by up to some 20 radians), so the check fails
then, on purpose: the server declares float32 answers.

The closed loop is threads of this process on keep-alive connections (no wrk: a GPU node has
no network to install it), against one server worker, the chart's default.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import yaml

from harness.ports import free_port
from harness.server import NotReadyError, Server, server_env, start
from jobkit.config import load_environment
from service.core import use_threads
from service.models.repository import ModelRepository
from service.models.runtime import LoadedModel
from service.settings import Settings
from training.config import load_config

__all__ = ["TOLERANCE", "Agreement", "agreement", "main", "tables"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "training" / "oscillator.yaml"
MODEL = "oscillator"  # the example's export name
SPAN_MS = 10_000.0  # the example's t_end (10 s), the end of the export's domain
ROWS = 300  # rows of the compared request
TOLERANCE = 1e-4  # of the answer's scale: see the module's docstring
NO_GPU = 3  # the exit code of `device` without a GPU
CONNECTIONS = 4  # of the /predict closed loop
QUICK_STEPS = (50, 10)  # Adam, L-BFGS: the example's network, in seconds on a CPU


@dataclass(frozen=True)
class Pace:
    """How long each measurement runs: the full check, or ``--quick`` (CI on a CPU)."""

    forward_batches: tuple[int, ...]
    forward_seconds: float
    request_rows: tuple[int, ...]
    loop_seconds: float
    warmup_seconds: float


FULL = Pace((1, 256, 4096, 65536), 1.0, (1, ROWS), 5.0, 1.0)
QUICK = Pace((1, 256, 4096), 0.2, (1, ROWS), 0.5, 0.2)


def torch_sees() -> tuple[bool, str]:
    """Whether torch sees a GPU, and the line that says what it sees."""
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
    build = f"torch {torch.__version__} ({cuda})"
    if not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f", CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
        return False, f"no GPU: {build} sees none{hint}; checking the CPU half only"
    names = [
        f"{torch.cuda.get_device_name(i)} (compute capability "
        f"{'.'.join(map(str, torch.cuda.get_device_capability(i)))})"
        for i in range(torch.cuda.device_count())
    ]
    return True, f"gpu: {build} sees {len(names)}: {', '.join(names)}"


# --- train -------------------------------------------------------------------------------------


def training_config(work: Path, steps: int | None, lbfgs_steps: int | None) -> dict[str, Any]:
    """The example config, its checkpoints and export in `work`, with fewer steps if told."""
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    if steps is not None:
        doc["steps"] = steps
    if lbfgs_steps is not None:
        doc["lbfgs_steps"] = lbfgs_steps
    doc["checkpoint_dir"] = str(work / "checkpoints")
    doc["export"] = {**doc["export"], "repository": str(work / "models")}
    return doc


def train(work: Path, device: str, steps: int | None, lbfgs_steps: int | None) -> dict[str, Any]:
    """``python -m training run`` on the config, its output on this terminal; what it did."""
    config = work / "train.yaml"
    doc = training_config(work, steps, lbfgs_steps)
    config.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "TRAIN_DEVICE": device}
    for name in ("TRAIN_CHECKPOINT_DIR", "TRAIN_EXPORT_REPOSITORY"):  # the config's, here
        env.pop(name, None)
    started = time.monotonic()
    argv = [sys.executable, "-m", "training", "run", str(config)]
    done = subprocess.run(argv, cwd=ROOT, env=env, check=False)  # noqa: S603 - this Python
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"training on {device} exited with {done.returncode}")
    lines = (work / "checkpoints" / "metrics.jsonl").read_text().splitlines()
    final = [entry for entry in map(json.loads, lines) if entry.get("final")][-1]
    trained = load_config(config)
    record = {
        "device": device,
        "steps": trained.steps,
        "lbfgs_steps": trained.lbfgs_steps,
        "seconds": seconds,
        "relative_l2_error": final["relative_l2_error"],
    }
    (work / "train.json").write_text(json.dumps(record))
    return record


# --- compare -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """One answer against its reference, over the same rows."""

    served: str
    reference: str
    rows: int
    max_abs_diff: float
    scale: float
    """The reference's largest magnitude: what the difference is measured against."""
    tolerance: float

    @property
    def relative(self) -> float:
        if self.max_abs_diff == 0:
            return 0.0
        return self.max_abs_diff / self.scale if self.scale > 0 else math.inf

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance

    def line(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (
            f"compare: {self.served} against {self.reference}, {self.rows} rows of x in mm: "
            f"max |diff| {self.max_abs_diff:.3g} mm = {self.relative:.3g} of the answer's scale "
            f"{self.scale:.4g} mm (tolerance {self.tolerance:g}): {verdict}"
        )


def agreement(
    served: str,
    values: npt.ArrayLike,
    reference: str,
    expected: npt.ArrayLike,
    tolerance: float = TOLERANCE,
) -> Agreement:
    """`values` against `expected`, row by row; a NaN, an infinity or another row count is
    an infinite difference."""
    got = np.asarray(values, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    finite = got.shape == want.shape and bool(np.isfinite(got).all() and np.isfinite(want).all())
    diff = float(np.max(np.abs(got - want), initial=0.0)) if finite else math.inf
    scale = float(np.max(np.abs(want), initial=0.0)) if np.isfinite(want).all() else math.inf
    return Agreement(served, reference, int(want.size), diff, scale, tolerance)


def request_body(rows: int) -> bytes:
    """``/predict`` of `rows` times spread over the trained interval, in ms; x in mm."""
    times = np.linspace(0.0, SPAN_MS, rows) if rows > 1 else np.array([SPAN_MS / 2])
    doc = {
        "model": MODEL,
        "inputs": {"t": {"value": times.tolist(), "unit": "ms"}},
        "outputs": {"x": "mm"},
    }
    return json.dumps(doc).encode()


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    """One ``POST /predict`` on `conn`: the status and the body."""
    conn.request("POST", "/predict", body, {"content-type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def served_x(server: Server, rows: int) -> list[float]:
    """The server's x (mm) for ``request_body(rows)``; anything but 200 ends the check."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        status, data = post(conn, request_body(rows))
    finally:
        conn.close()
    if status != 200:
        raise SystemExit(f"{server.url}/predict answered {status}: {data[:500]!r}")
    answer = json.loads(data)["outputs"]["x"]
    if answer["unit"] != "mm":
        raise SystemExit(f"{server.url}/predict answered x in {answer['unit']!r}, asked for mm")
    return [float(v) for v in answer["value"]]


def load(repository: Path) -> LoadedModel:
    """The export as the server loads it, on the CPU."""
    return ModelRepository.load(repository).get(MODEL)


def forward_x(repository: Path, rows: int) -> list[float]:
    """The export's own forward pass on the CPU, in this process: the server's loader, t
    converted by hand (ms to the model's s), x back (m to mm)."""
    model = load(repository)
    units = ([s.unit for s in model.manifest.inputs], [s.unit for s in model.manifest.outputs])
    if units != (["s"], ["m"]):
        raise SystemExit(f"the export declares units {units}; this check expects t in s, x in m")
    times_s = np.array(json.loads(request_body(rows))["inputs"]["t"]["value"]) / 1000.0
    with torch.inference_mode():
        x_m = model.module(torch.from_numpy(times_s.astype(model.dtype).reshape(-1, 1)))
    return [float(v) * 1000.0 for v in x_m.reshape(-1).tolist()]


# --- measure -----------------------------------------------------------------------------------


@contextmanager
def servers(repository: Path, devices: Sequence[str], work: Path) -> Iterator[dict[str, Server]]:
    """One server per device (``MODEL_DEVICE``), all starting at once, each with one worker;
    yielded once all answer ``/readyz``, stopped at the end. One that fails to start ends
    the check with the end of its log."""
    with ExitStack() as stack:
        started: dict[str, Server] = {}
        for device in devices:
            env = {"MODEL_DEVICE": device, "DEFAULT_MODEL": MODEL, "PYTHONUNBUFFERED": "1"}
            root = work / f"server-{device}"
            full = server_env(root, free_port(), repository=repository, env=env)
            server = start(root, full, log=work / f"server-{device}.log", cwd=ROOT)
            stack.callback(server.stop)
            started[device] = server
        for device, server in started.items():
            try:
                server.wait_ready(workers=1)
            except NotReadyError as e:
                tail = "\n".join(server.log_text().splitlines()[-20:])
                raise SystemExit(f"the server with MODEL_DEVICE={device}: {e}\n{tail}") from None
            said = f"model {MODEL}/"  # the loader's line: "model NAME/VERSION ready on DEVICE"
            if not any(said in ln and f"ready on {device}" in ln for ln in _lines(server)):
                raise SystemExit(
                    f"the server with MODEL_DEVICE={device} did not log {MODEL} ready on "
                    f"{device}:\n{server.log_text()[-3000:]}"
                )
        yield started


def _lines(server: Server) -> list[str]:
    return server.log_text().splitlines()


def calls_per_second(call: Callable[[], object], sync: Callable[[], None], seconds: float) -> float:
    """How many times a second `call` runs back to back, over at least `seconds` (after one
    unmeasured call); `sync` waits for queued device work, so the clock sees all of it."""
    call()
    sync()
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls / elapsed
        calls = max(2 * calls, math.ceil(calls * 1.2 * seconds / elapsed) if elapsed else 0)


def _nothing() -> None:
    """The CPU's sync: its work is done when the call returns."""


def forward_rates(repository: Path, device: str, pace: Pace) -> list[dict[str, Any]]:
    """Rows/s of the export's forward pass on `device` at each batch size, input already
    there (the model's own cost; /predict adds the copies, units and HTTP). The CPU runs
    ``TORCH_THREADS`` threads, as a server worker does."""
    use_threads(load_environment(Settings))
    module = load(repository).module.to(device)
    sync: Callable[[], None] = torch.cuda.synchronize if device == "cuda" else _nothing
    rates = []
    for rows in pace.forward_batches:
        t_s = torch.linspace(0.0, SPAN_MS / 1000.0, rows).reshape(rows, 1).to(device)
        with torch.inference_mode():
            per_s = calls_per_second(partial(module, t_s), sync, pace.forward_seconds)
        rates.append({"device": device, "rows": rows, "rows_per_s": rows * per_s})
    return rates


def closed_loop(server: Server, rows: int, seconds: float) -> dict[str, Any]:
    """``CONNECTIONS`` clients, each sending the next request when its answer came, for
    `seconds`: requests/s and rows/s of the answers that were 200, and how many were not."""
    body = request_body(rows)

    def client(deadline: float) -> tuple[int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        ok = failed = 0
        while time.monotonic() < deadline:
            try:
                status, _ = post(conn, body)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()  # http.client reconnects on the next request
            ok, failed = (ok + 1, failed) if status == 200 else (ok, failed + 1)
        conn.close()
        return ok, failed

    started = time.monotonic()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        counts = list(pool.map(client, [started + seconds] * CONNECTIONS))
    elapsed = time.monotonic() - started
    answered = sum(ok for ok, _ in counts)
    return {
        "rows": rows,
        "connections": CONNECTIONS,
        "seconds": elapsed,
        "requests": answered,
        "requests_per_s": answered / elapsed,
        "rows_per_s": answered * rows / elapsed,
        "errors": sum(failed for _, failed in counts),
    }


def measure(
    work: Path, device: str, sees: str, pace: Pace, tolerance: float
) -> tuple[dict[str, Any], list[Agreement]]:
    """Everything ``measure`` reports, and the comparisons that decide its exit code."""
    repository = work / "models"
    devices = [device] if device == "cpu" else [device, "cpu"]
    with servers(repository, devices, work) as running:
        answers = {d: served_x(s, ROWS) for d, s in running.items()}
        checks = [
            agreement(f"{d} /predict", answers[d], "cpu /predict", answers["cpu"], tolerance)
            for d in devices
            if d != "cpu"
        ]
        checks.append(
            agreement(
                "cpu /predict",
                answers["cpu"],
                "the export's forward pass in this process",
                forward_x(repository, ROWS),
                tolerance,
            )
        )
        loops = []
        for d, server in running.items():
            for rows in pace.request_rows:
                closed_loop(server, rows, pace.warmup_seconds)
                loops.append({"device": d, **closed_loop(server, rows, pace.loop_seconds)})
    forward = [rate for d in devices for rate in forward_rates(repository, d, pace)]
    train_file = work / "train.json"
    report = {
        "device": device,
        "sees": sees,
        "quick": pace == QUICK,
        "tolerance": tolerance,
        "train": json.loads(train_file.read_text()) if train_file.exists() else None,
        "compare": [{**asdict(c), "relative": c.relative, "ok": c.ok} for c in checks],
        "forward": forward,
        "predict": loops,
        "passed": all(c.ok for c in checks) and not any(loop["errors"] for loop in loops),
    }
    return report, checks


def tables(report: dict[str, Any]) -> str:
    """The report's throughput as two Markdown tables (and the training line when there is
    one), devices side by side."""
    devices = list(dict.fromkeys(r["device"] for r in report["forward"]))
    lines = []
    if report.get("train"):
        t = report["train"]
        lines += [
            f"training on {t['device']}: {t['steps']:,} Adam + {t['lbfgs_steps']:,} L-BFGS steps "
            f"in {t['seconds']:.1f} s, relative L2 error {t['relative_l2_error']:.3g}",
            "",
        ]
    ratio = len(devices) > 1
    head = ["rows", *devices, *([f"{devices[0]} / {devices[1]}"] if ratio else [])]
    lines += ["forward pass, rows/s", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    by = {(r["device"], r["rows"]): r["rows_per_s"] for r in report["forward"]}
    for rows in dict.fromkeys(r["rows"] for r in report["forward"]):
        cells = [f"{rows:,}", *(f"{by[(d, rows)]:,.0f}" for d in devices)]
        if ratio:
            cells.append(f"{by[(devices[0], rows)] / by[(devices[1], rows)]:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"/predict on loopback, closed loop of {CONNECTIONS} connections, one server worker",
        "| rows/request | device | requests/s | rows/s | not 200 |",
        "|---|---|---|---|---|",
    ]
    for loop in report["predict"]:
        lines.append(
            f"| {loop['rows']:,} | {loop['device']} | {loop['requests_per_s']:,.0f} | "
            f"{loop['rows_per_s']:,.0f} | {loop['errors']} |"
        )
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gpu_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("device", help="one line: what torch sees (exit 3: no GPU)")
    for name, text in (
        ("train", "train and export into WORK/models"),
        ("measure", "serve WORK/models, compare, measure"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("work", type=Path, help="the work folder")
        sub.add_argument("--device", choices=("cuda", "cpu"), required=True)
        sub.add_argument("--quick", action="store_true", help="seconds, not minutes (CI)")
    train_cmd, measure_cmd = commands.choices["train"], commands.choices["measure"]
    train_cmd.add_argument("--steps", type=int, help="Adam steps (default: the example's)")
    train_cmd.add_argument("--lbfgs-steps", type=int, help="L-BFGS steps (the example's)")
    measure_cmd.add_argument("--json", type=Path, required=True, help="where the report goes")
    measure_cmd.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE,
        help="of the answer's scale (default %(default)g)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "device":
        found, line = torch_sees()
        print(line, flush=True)
        return 0 if found else NO_GPU
    if args.command == "train":
        steps = (args.steps, args.lbfgs_steps)
        if args.quick:
            steps = (steps[0] or QUICK_STEPS[0], steps[1] or QUICK_STEPS[1])
        train(args.work, args.device, *steps)
        return 0
    report, checks = measure(
        args.work, args.device, torch_sees()[1], QUICK if args.quick else FULL, args.tolerance
    )
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    for check in checks:
        print(check.line())
    print(tables(report))
    print(f"report: {args.json}")
    if not report["passed"]:
        print("gpu-check: FAILED (a mismatch or a request not answered 200)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
