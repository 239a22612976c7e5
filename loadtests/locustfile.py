"""Unit-tagged traffic for dimtensor-serve: Locust (FastHttpUser), load shapes and an SLO gate.

Self-contained on purpose (only Locust and the standard library): the same file runs here
(``python -m loadtests.slo``, ``python -m loadtests.hpa_check``), under plain ``locust -f``,
and in the stock Locust image from a ConfigMap (``deploy/examples/loadtest/``).

The mix, one weighted draw per request (``MIX``; names are the rows of Locust's statistics):

- native ``POST /predict`` on ``projectile`` and ``pendulum``, every input in one of several
  compatible units (km/h, m/s, mph or knots; deg or rad; m, cm or ft; m/s^2 or ft/s^2) and
  outputs asked in m, km, s or ms; 1 row, or 2 to ``--max-rows`` rows;
- OIP v2 ``POST /v2/models/{m}/infer`` with ``parameters.unit`` on inputs and outputs;
- ``POST /v1/units/convert`` between degC, K and degF; ``GET /v1/models``,
  ``GET /v2/models/projectile``;
- a share (``--invalid-share``) of deliberately invalid requests, each with the status and
  body its protocol documents (native: ``application/problem+json`` 422 dimension-mismatch,
  400 malformed-json, 404 model-not-found; OIP: ``{"error"}`` 400 and 404). A documented
  answer is a success, anything else a failure; a valid request must answer 200 in the unit
  it asked for.

Shapes (``--load-shape``, or ``LOCUST_LOAD_SHAPE``): ``steady`` (``--shape-users`` users for
``--shape-seconds``), ``step`` (``--shape-steps`` equal steps up to ``--shape-users``),
``spike`` (a quarter of the users, then all of them for the middle fifth of the run, then a
quarter again) and ``plan`` (``--load-plan name:seconds:rps,...``: the phases of
``loadtests.hpa_check``). Each user sends ``--user-rps`` requests/s (Locust's
``constant_throughput``; 0: no pause, a closed loop), so a shape's offered rate is users x
user-rps as long as a request takes less than 1/user-rps.

SLO gate (the ``quitting`` listener, on the master or the single local runner): with any of
``--slo-max-failure-ratio``, ``--slo-p95-ms``, ``--slo-p99-ms``, ``--slo-min-rps`` set, it
prints one line per objective and sets the exit code (0 all met, 5 one missed, 6 the
generator's CPU was saturated so the numbers are not the server's: rows of the project's exit
table, ``jobkit.exits``, copied here because this file runs alone). ``--verdict-file``
writes the same as JSON. ``--timeline-file`` appends a JSON line every second with the
cumulative counts and response-time histogram (what ``hpa_check`` turns into its timeline).
An API key (``--api-key`` or ``LOCUST_API_KEY``) is sent as ``Authorization: Bearer``.
``--reconnect-every N`` closes each user's connection every N requests: behind a Service or a
NodePort (L4) a kept-alive connection stays on the pod it first reached, so pods added by the
HPA would get no load; an L7 ingress balances each request and needs none of this.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

# jobkit.exits.ExitCode's numbers (tests/loadtests/test_exit_codes.py keeps them equal).
EXIT_OBJECTIVE_MISSED = 5
EXIT_GENERATOR_SATURATED = 6
PROBLEM_JSON = "application/problem+json"

SPEEDS = (("m/s", 1.0), ("km/h", 3.6), ("mph", 2.2369362920544), ("kn", 1.9438444924406))
ANGLES = (("deg", 1.0), ("rad", math.pi / 180))
LENGTHS = (("m", 1.0), ("cm", 100.0), ("ft", 3.280839895013123))
ACCELERATIONS = (("m/s^2", 1.0), ("ft/s^2", 3.280839895013123))
RANGE_UNITS = ("m", "km", "ft")
TIME_UNITS = ("s", "ms")
TEMPERATURES = (("degC", 21.5), ("K", 294.65), ("degF", 70.7))


# --- options --------------------------------------------------------------------------------


# (flag, type, default, help); each is also the environment variable LOCUST_<FLAG>.
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("--load-shape", str, "steady", "steady, step, spike or plan"),
    ("--shape-users", int, 10, "users at the shape's peak"),
    ("--shape-seconds", float, 60.0, "length of the steady, step or spike shape"),
    ("--shape-steps", int, 4, "steps of the step shape"),
    ("--load-plan", str, "", "phases of the plan shape: name:seconds:rps,..."),
    ("--user-rps", float, 2.0, "requests/s per user (0: no pause)"),
    ("--invalid-share", float, 0.05, "share of deliberately invalid requests"),
    ("--max-rows", int, 256, "most rows in a multi-row request"),
    ("--api-key", str, "", "sent as Authorization: Bearer"),
    ("--reconnect-every", int, 0, "send Connection: close every N requests (0: keep-alive)"),
    ("--slo-max-failure-ratio", float, None, "SLO: most failed/all requests"),
    ("--slo-p95-ms", float, None, "SLO: p95 bound in ms"),
    ("--slo-p99-ms", float, None, "SLO: p99 bound in ms"),
    ("--slo-min-rps", float, None, "SLO: least requests/s over the run"),
    ("--verdict-file", str, "", "write the SLO verdict as JSON here"),
    ("--timeline-file", str, "", "append a JSON snapshot of the counts every second"),
)
SHAPES = ("steady", "step", "spike", "plan")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    for flag, kind, default, text in OPTIONS:
        env = "LOCUST_" + flag.removeprefix("--").replace("-", "_").upper()
        choices = SHAPES if flag == "--load-shape" else None
        parser.add_argument(
            flag, type=kind, default=default, env_var=env, help=text, choices=choices
        )


def _option(environment: Environment, name: str, default: Any = None) -> Any:
    return getattr(environment.parsed_options, name, default)


# --- the mix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request and what a correct server answers."""

    name: str
    method: str
    path: str
    body: Any = None  # JSON-able, or raw bytes sent as is
    status: int = 200
    check: Callable[[int, str, Any], str | None] | None = None  # -> None or why it is wrong


def _rows(rng: random.Random, max_rows: int) -> int:
    """1 row half the time, else a log-uniform count from 2 to max_rows."""
    if max_rows < 2 or rng.random() < 0.5:
        return 1
    return min(max_rows, int(2 ** rng.uniform(1, math.log2(max_rows) + 1)))


def _values(rng: random.Random, n: int, low: float, high: float, scale: float) -> Any:
    values = [round(rng.uniform(low, high) * scale, 6) for _ in range(n)]
    return values[0] if n == 1 else values


def _rows_name(n: int) -> str:
    return "1 row" if n == 1 else ("2-16 rows" if n <= 16 else "17+ rows")


def _units_check(wanted: dict[str, str], oip: bool) -> Callable[[int, str, Any], str | None]:
    def check(status: int, ctype: str, doc: Any) -> str | None:
        if oip:
            got = {o["name"]: o.get("parameters", {}).get("unit") for o in doc["outputs"]}
        else:
            got = {k: v["unit"] for k, v in doc["outputs"].items()}
        wrong = {k: got.get(k) for k, u in wanted.items() if got.get(k) != u}
        return f"outputs not in the units asked for: {wrong}" if wrong else None

    return check


def _problem(kind: str) -> Callable[[int, str, Any], str | None]:
    def check(status: int, ctype: str, doc: Any) -> str | None:
        if not ctype.startswith(PROBLEM_JSON):
            return f"content-type {ctype!r}, expected {PROBLEM_JSON}"
        if doc.get("type") != f"/problems/{kind}":
            return f"problem type {doc.get('type')!r}, expected /problems/{kind}"
        return None

    return check


def _oip_error(status: int, ctype: str, doc: Any) -> str | None:
    ok = isinstance(doc, dict) and isinstance(doc.get("error"), str)
    return None if ok else 'expected an {"error": "..."} body'


def projectile_inputs(rng: random.Random, n: int) -> dict[str, tuple[Any, str]]:
    """speed 1-60 m/s, angle 5-85 deg, g 9.78-9.83 m/s^2, each in a random compatible unit."""
    speed_unit, speed_scale = rng.choice(SPEEDS)
    angle_unit, angle_scale = rng.choice(ANGLES)
    g_unit, g_scale = rng.choice(ACCELERATIONS)
    return {
        "speed": (_values(rng, n, 1, 60, speed_scale), speed_unit),
        "angle": (_values(rng, n, 5, 85, angle_scale), angle_unit),
        "g": (_values(rng, 1, 9.78, 9.83, g_scale), g_unit),
    }


def pendulum_inputs(rng: random.Random, n: int) -> dict[str, tuple[Any, str]]:
    """length 0.1-10 m, amplitude 1-120 deg, g 9.78-9.83 m/s^2."""
    length_unit, length_scale = rng.choice(LENGTHS)
    angle_unit, angle_scale = rng.choice(ANGLES)
    g_unit, g_scale = rng.choice(ACCELERATIONS)
    return {
        "length": (_values(rng, n, 0.1, 10, length_scale), length_unit),
        "amplitude": (_values(rng, n, 1, 120, angle_scale), angle_unit),
        "g": (_values(rng, 1, 9.78, 9.83, g_scale), g_unit),
    }


INPUTS = {"projectile": projectile_inputs, "pendulum": pendulum_inputs}


def _wanted(rng: random.Random, model: str) -> dict[str, str]:
    if model == "projectile":
        return {"range": rng.choice(RANGE_UNITS), "flight_time": rng.choice(TIME_UNITS)}
    return {"period": rng.choice(TIME_UNITS)}


def native_predict(rng: random.Random, max_rows: int, model: str) -> Call:
    n = _rows(rng, max_rows)
    inputs = {k: {"value": v, "unit": u} for k, (v, u) in INPUTS[model](rng, n).items()}
    wanted = _wanted(rng, model)
    body = {"model": model, "inputs": inputs, "outputs": wanted}
    check = _units_check(wanted, oip=False)
    return Call(f"native {model} {_rows_name(n)}", "POST", "/predict", body, 200, check)


def oip_infer(rng: random.Random, max_rows: int, model: str) -> Call:
    n = _rows(rng, max_rows)
    tensors = []
    for name, (value, unit) in INPUTS[model](rng, n).items():
        data = value if isinstance(value, list) else [value]
        if name == "g" and n > 1:
            data = data * n  # OIP tensors carry every row
        tensors.append(
            {
                "name": name,
                "shape": [len(data)],
                "datatype": "FP64",
                "parameters": {"unit": unit},
                "data": data,
            }
        )
    wanted = _wanted(rng, model)
    outputs = [{"name": k, "parameters": {"unit": u}} for k, u in wanted.items()]
    body = {"id": f"load-{rng.getrandbits(32):08x}", "inputs": tensors, "outputs": outputs}
    check = _units_check(wanted, oip=True)
    return Call(
        f"oip {model} {_rows_name(n)}", "POST", f"/v2/models/{model}/infer", body, 200, check
    )


def convert_temperature(rng: random.Random, max_rows: int) -> Call:
    (src, value), (dst, _) = rng.sample(TEMPERATURES, 2)
    body = {"value": round(value + rng.uniform(-30, 30), 3), "from": src, "to": dst}

    def check(status: int, ctype: str, doc: Any) -> str | None:
        return None if doc.get("unit") == dst else f"unit {doc.get('unit')!r}, expected {dst!r}"

    return Call("convert temperature", "POST", "/v1/units/convert", body, 200, check)


def list_models(rng: random.Random, max_rows: int) -> Call:
    def check(status: int, ctype: str, doc: Any) -> str | None:
        names = {m["name"] for m in doc.get("models", [])}
        return None if {"projectile", "pendulum"} <= names else f"models listed: {names}"

    return Call("GET /v1/models", "GET", "/v1/models", check=check)


def oip_metadata(rng: random.Random, max_rows: int) -> Call:
    def check(status: int, ctype: str, doc: Any) -> str | None:
        units = {t["name"]: t["parameters"]["unit"] for t in doc.get("inputs", [])}
        return None if units.get("speed") == "m/s" else f"input units {units}"

    return Call("GET /v2/models/projectile", "GET", "/v2/models/projectile", check=check)


def invalid_dimension(rng: random.Random, max_rows: int) -> Call:
    body = native_predict(rng, 1, "projectile").body
    body["inputs"]["speed"]["unit"] = rng.choice(("kg", "s", "K"))
    return Call(
        "invalid native dimension (422)",
        "POST",
        "/predict",
        body,
        422,
        _problem("dimension-mismatch"),
    )


def invalid_json(rng: random.Random, max_rows: int) -> Call:
    return Call(
        "invalid native malformed JSON (400)",
        "POST",
        "/predict",
        b'{"model": "projectile", "inputs": {',
        400,
        _problem("malformed-json"),
    )


def invalid_model(rng: random.Random, max_rows: int) -> Call:
    body = native_predict(rng, 1, "projectile").body
    body["model"] = "no-such-model"
    return Call(
        "invalid native unknown model (404)",
        "POST",
        "/predict",
        body,
        404,
        _problem("model-not-found"),
    )


def invalid_oip_dimension(rng: random.Random, max_rows: int) -> Call:
    body = oip_infer(rng, 1, "pendulum").body
    body["inputs"][0]["parameters"]["unit"] = "kg"
    return Call(
        "invalid oip dimension (400)", "POST", "/v2/models/pendulum/infer", body, 400, _oip_error
    )


def invalid_oip_model(rng: random.Random, max_rows: int) -> Call:
    body = oip_infer(rng, 1, "projectile").body
    return Call(
        "invalid oip unknown model (404)",
        "POST",
        "/v2/models/no-such-model/infer",
        body,
        404,
        _oip_error,
    )


Maker = Callable[[random.Random, int], Call]
VALID: tuple[tuple[Maker, float], ...] = (
    (lambda rng, rows: native_predict(rng, rows, "projectile"), 35),
    (lambda rng, rows: native_predict(rng, rows, "pendulum"), 15),
    (lambda rng, rows: oip_infer(rng, rows, "projectile"), 20),
    (lambda rng, rows: oip_infer(rng, rows, "pendulum"), 10),
    (convert_temperature, 10),
    (list_models, 5),
    (oip_metadata, 5),
)
INVALID: tuple[tuple[Maker, float], ...] = (
    (invalid_dimension, 1),
    (invalid_json, 1),
    (invalid_model, 1),
    (invalid_oip_dimension, 1),
    (invalid_oip_model, 1),
)


def draw(rng: random.Random, invalid_share: float, max_rows: int) -> Call:
    """One request of the mix: invalid with probability `invalid_share`."""
    makers = INVALID if rng.random() < invalid_share else VALID
    maker = rng.choices([m for m, _ in makers], weights=[w for _, w in makers])[0]
    return maker(rng, max_rows)


# --- the user -------------------------------------------------------------------------------


class ApiUser(FastHttpUser):
    """A client of the API: one request of the mix per task run."""

    def wait_time(self) -> float:
        rate = float(_option(self.environment, "user_rps", 0.0) or 0.0)
        if rate <= 0:
            return 0.0
        # constant_throughput's pacing: start a request every 1/rate s
        now = time.perf_counter()
        last = getattr(self, "_paced_at", None)
        wait = 1.0 / rate if last is None else max(0.0, last + 1.0 / rate - now)
        self._paced_at = now + wait
        return wait

    def on_start(self) -> None:
        self.rng = random.Random()  # noqa: S311 - traffic, not secrets
        key = _option(self.environment, "api_key", "")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.sent = 0

    @task
    def request(self) -> None:
        env = self.environment
        call = draw(
            self.rng, float(_option(env, "invalid_share", 0.05)), int(_option(env, "max_rows", 256))
        )
        kwargs: dict[str, Any] = {"name": call.name, "headers": dict(self.headers)}
        self.sent += 1
        every = int(_option(env, "reconnect_every", 0) or 0)
        if every and self.sent % every == 0:
            kwargs["headers"]["Connection"] = "close"  # a Service (L4) rebalances new ones
        if isinstance(call.body, bytes):
            kwargs["data"] = call.body
            kwargs["headers"]["Content-Type"] = "application/json"
        elif call.body is not None:
            kwargs["json"] = call.body
        with self.client.request(call.method, call.path, catch_response=True, **kwargs) as resp:
            problem = judge(
                call, resp.status_code, resp.headers.get("content-type") or "", resp.text or ""
            )
            if problem is None:
                resp.success()
            else:
                resp.failure(problem)


def judge(call: Call, status: int, ctype: str, text: str) -> str | None:
    """None when the answer is the documented one, else why not."""
    if status != call.status:
        return f"status {status}, expected {call.status}: {text[:200]}"
    if call.check is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return f"body is not JSON: {text[:200]}"
    return call.check(status, ctype, doc)


# --- shapes ---------------------------------------------------------------------------------


def parse_plan(text: str) -> list[tuple[str, float, float]]:
    """``low:60:20,high:300:90`` -> [("low", 60.0, 20.0), ("high", 300.0, 90.0)].
    ``@PATH`` reads the same text from a file, again whenever it changes (``hpa_check``
    writes the high phase once it has calibrated it)."""
    if text.startswith("@"):
        text = _plan_file(text[1:])
    phases = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, seconds, rps = part.split(":")
        phases.append((name, float(seconds), float(rps)))
    return phases


_PLAN_CACHE: dict[str, tuple[float, str]] = {}


def _plan_file(path: str) -> str:
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return ""
    cached = _PLAN_CACHE.get(path)
    if cached is None or cached[0] != mtime:
        with open(path, encoding="utf-8") as f:
            _PLAN_CACHE[path] = (mtime, f.read().strip())
    return _PLAN_CACHE[path][1]


class Shape(LoadTestShape):
    """steady, step, spike or plan (``--load-shape``); ``phase`` and ``offered_rps`` say
    where the run is, for the timeline."""

    phase = ""
    offered_rps = 0.0

    def tick(self) -> tuple[int, float] | None:
        if self.runner is None:
            return None
        env = self.runner.environment
        t = self.get_run_time()
        shape = str(_option(env, "load_shape", "steady"))
        user_rps = float(_option(env, "user_rps", 0.0))
        peak = max(1, int(_option(env, "shape_users", 1)))
        if shape == "plan":
            users = self._plan(t, parse_plan(str(_option(env, "load_plan", ""))), user_rps)
            if users is None:
                return None
        else:
            total = float(_option(env, "shape_seconds", 0.0))
            if t >= total:
                return None
            if shape == "step":
                steps = max(1, int(_option(env, "shape_steps", 1)))
                users = max(1, round(peak * (int(t / total * steps) + 1) / steps))
                self.phase = f"step {int(t / total * steps) + 1}/{steps}"
            elif shape == "spike":
                spiking = 0.4 * total <= t < 0.6 * total
                users = peak if spiking else max(1, peak // 4)
                self.phase = "spike" if spiking else "base"
            else:
                users = peak
                self.phase = "steady"
            self.offered_rps = users * user_rps
        return users, max(float(users), 10.0)  # reach each level within a second

    def _plan(self, t: float, plan: list[tuple[str, float, float]], user_rps: float) -> int | None:
        start = 0.0
        for name, seconds, rps in plan:
            if t < start + seconds:
                self.phase, self.offered_rps = name, rps
                return max(1, math.ceil(rps / user_rps)) if user_rps > 0 else max(1, int(rps))
            start += seconds
        return None


# --- SLO gate and timeline ------------------------------------------------------------------


def _percentile_ms(environment: Environment, q: float) -> float:
    total = environment.stats.total
    return float(total.get_response_time_percentile(q) or 0.0) if total.num_requests else 0.0


def _generator_saturated(environment: Environment) -> bool:
    runner = environment.runner
    return bool(
        getattr(runner, "cpu_warning_emitted", False)
        or getattr(runner, "worker_cpu_warning_emitted", False)
    )


def slo_verdict(environment: Environment) -> dict[str, Any]:
    """Each configured objective with its measured value, and the exit code."""
    total = environment.stats.total
    elapsed = max(1e-9, (total.last_request_timestamp or 0.0) - total.start_time)
    measured = {
        "max_failure_ratio": total.fail_ratio,
        "p95_ms": _percentile_ms(environment, 0.95),
        "p99_ms": _percentile_ms(environment, 0.99),
        "min_rps": total.num_requests / elapsed if total.num_requests else 0.0,
    }
    objectives = []
    for key in ("max_failure_ratio", "p95_ms", "p99_ms", "min_rps"):
        bound = _option(environment, "slo_" + key)
        if bound is None:
            continue
        ok = measured[key] >= bound if key == "min_rps" else measured[key] <= bound
        objectives.append({"objective": key, "bound": bound, "measured": measured[key], "met": ok})
    saturated = _generator_saturated(environment)
    code = (
        EXIT_GENERATOR_SATURATED
        if saturated
        else (0 if all(o["met"] for o in objectives) else EXIT_OBJECTIVE_MISSED)
    )
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "measured": measured,
        "objectives": objectives,
        "generator_cpu_saturated": saturated,
        "exit_code": code,
    }


@events.quitting.add_listener
def _slo_gate(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    verdict = slo_verdict(environment)
    for o in verdict["objectives"]:
        mark = "met" if o["met"] else "MISSED"
        print(f"SLO {o['objective']}: measured {o['measured']:.4g}, bound {o['bound']:g}: {mark}")
    if verdict["generator_cpu_saturated"]:
        print(
            "SLO: the load generator's CPU was saturated (above 90 %): these are not the "
            "server's numbers; add --processes or machines"
        )
    if verdict["objectives"] or verdict["generator_cpu_saturated"]:
        environment.process_exit_code = verdict["exit_code"]
    path = _option(environment, "verdict_file", "")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(verdict, out, indent=2)


def snapshot(environment: Environment) -> dict[str, Any]:
    """Cumulative counts now: what the timeline file gets every second."""
    total = environment.stats.total
    shape = environment.shape_class
    runner = environment.runner
    return {
        "t": time.time(),
        "phase": getattr(shape, "phase", ""),
        "offered_rps": getattr(shape, "offered_rps", 0.0),
        "users": runner.user_count if runner is not None else 0,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "response_times": {str(k): v for k, v in total.response_times.items()},
    }


def _write_timeline(environment: Environment, path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        while True:
            out.write(json.dumps(snapshot(environment)) + "\n")
            out.flush()
            gevent.sleep(1.0)


@events.init.add_listener
def _start_timeline(environment: Environment, **_: Any) -> None:
    path = _option(environment, "timeline_file", "")
    runner = environment.runner
    if path and runner is not None and not isinstance(runner, WorkerRunner):
        gevent.spawn(_write_timeline, environment, path)
