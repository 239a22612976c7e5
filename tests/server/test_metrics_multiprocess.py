"""/metrics under real gunicorn: every worker's counts add up, and servers do not mix.

Which worker serves a request is chosen, not left to the kernel: the other workers are
stopped (SIGSTOP, ``paused``) while it gets its share, so the per-worker counts are known
exactly and the files each worker writes can be checked one by one. Nothing waits for the
1 s flush either: a worker writes its tallies before it answers ``/metrics``, so a scrape
answered by each worker in turn leaves every file complete.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from harness.procs import paused
from tests.support.servers import ServerProcess, run_server

pytestmark = pytest.mark.slow

BODY: dict[str, Any] = {
    "model": "projectile",
    "inputs": {
        "speed": {"value": [10, 20], "unit": "m/s"},
        "angle": {"value": 30, "unit": "deg"},
        "g": {"value": 9.81, "unit": "m/s^2"},
    },
}
UNKNOWN_MODEL = {**BODY, "model": "nope"}
BAD_UNIT = {**BODY, "inputs": {**BODY["inputs"], "g": {"value": 1, "unit": "kg"}}}
CLOSE = {"connection": "close"}  # a new connection per request: no worker keeps a client

Labels = Mapping[str, str]


def value(samples: list[tuple[str, Labels, float]], name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels`."""
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    )


def scrape(server: ServerProcess) -> list[tuple[str, Labels, float]]:
    r = httpx.get(server.url + "/metrics", headers=CLOSE, timeout=30)
    assert r.status_code == 200
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    ]


def worker_counters(metrics_dir: Path, pid: int) -> list[tuple[str, Labels, float]]:
    """What one worker wrote to its own counter file (prometheus_client reads it)."""
    files = [str(metrics_dir / f"counter_{pid}.db")]
    return [
        (s.name, s.labels, s.value)
        for family in MultiProcessCollector.merge(files)  # type: ignore[no-untyped-call]
        for s in family.samples
    ]


def post(server: ServerProcess, body: dict[str, Any], times: int, status: int) -> None:
    with httpx.Client(headers=CLOSE, timeout=30) as client:
        for _ in range(times):
            r = client.post(server.url + "/predict", json=body)
            assert r.status_code == status, r.text


def test_counters_sum_over_three_workers(tmp_path: Path):
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    (prom_dir / "counter_99999.db").write_bytes(b"stale file of an earlier run")
    with run_server(tmp_path, workers=3, PROMETHEUS_MULTIPROC_DIR=str(prom_dir)) as server:
        pids = sorted(server.workers())
        assert len(pids) == 3
        share = dict(zip(pids, (7, 11, 13), strict=True))  # distinct: a mix-up shows
        k = sum(share.values())
        for pid, n in share.items():  # only `pid` runs while it gets its share
            with paused(set(pids) - {pid}):
                post(server, BODY, n, 200)
                if pid == pids[1]:
                    post(server, UNKNOWN_MODEL, 5, 404)
                if pid == pids[2]:
                    post(server, BAD_UNIT, 3, 422)
        for pid in pids:  # each worker writes its tallies before it answers /metrics
            with paused(set(pids) - {pid}):
                scrape(server)
        for pid, n in share.items():  # the load really was spread, exactly as sent
            mine = worker_counters(prom_dir, pid)
            assert value(mine, "http_requests_total", handler="/predict", status="200") == n
            assert value(mine, "dimtensor_predictions_total", outcome="ok") == n
        assert (
            sum(
                value(worker_counters(prom_dir, pid), "dimtensor_predictions_total", outcome="ok")
                for pid in pids
            )
            == k
        )
        scrapes = []
        for pid in pids:  # whichever worker answers, the totals are the same
            with paused(set(pids) - {pid}):
                scrapes.append(scrape(server))
        scrapes.append(scrape(server))  # and with all of them running
        files = {f.name for f in prom_dir.iterdir()}
    for samples in scrapes:
        assert value(samples, "dimtensor_predictions_total", model="projectile", outcome="ok") == k
        assert (
            value(
                samples, "dimtensor_predictions_total", model="unknown", outcome="model-not-found"
            )
            == 5
        )
        assert value(samples, "dimtensor_unit_errors_total", kind="dimension-mismatch") == 3
        assert value(samples, "dimtensor_request_rows_count", model="projectile") == k
        assert value(samples, "dimtensor_request_rows_sum", model="projectile") == 2 * k
        assert value(samples, "dimtensor_inference_duration_seconds_count", model="projectile") == k
        assert value(samples, "http_requests_total", handler="/predict", status="200") == k
        assert value(samples, "http_requests_total", handler="/predict", status="404") == 5
        assert value(samples, "http_requests_total", handler="/predict", status="422") == 3
        assert value(samples, "dimtensor_models", state="ready") >= 2
    assert "counter_99999.db" not in files  # the stale file was removed at start
    assert {int(p) for f in files for p in re.findall(r"^counter_(\d+)\.db$", f)} == set(pids)


def predictions(server: ServerProcess) -> float:
    """The server's answered /predict count, from its single worker: exact at once."""
    return value(scrape(server), "http_requests_total", handler="/predict", status="200")


def environ(pid: int) -> dict[str, str]:
    raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_two_servers_at_once_keep_their_own_counts(tmp_path: Path):
    """gunicorn empties its metrics directory at start: a second server must not empty the
    first one's, and neither may count the other's requests."""
    with run_server(tmp_path, workers=1) as first:
        post(first, BODY, 4, 200)
        assert predictions(first) == 4
        with run_server(tmp_path, workers=1) as second:
            post(second, BODY, 7, 200)
            assert predictions(first) == 4
            assert predictions(second) == 7
            for server in (first, second):  # its own directories, as its worker sees them
                (worker,) = server.workers()
                env = environ(worker)
                for name, sub in (
                    ("HOME", "home"),
                    ("TMPDIR", "tmp"),
                    ("PROMETHEUS_MULTIPROC_DIR", "prometheus"),
                ):
                    assert env[name] == str(server.root / sub), name
                assert {f.name for f in server.metrics_dir.glob("counter_*.db")} == {
                    f"counter_{worker}.db"
                }
        post(first, BODY, 1, 200)
        assert predictions(first) == 5
