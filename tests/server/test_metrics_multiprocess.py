"""/metrics under a 3-worker gunicorn: counters from every worker add up."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import run_server

pytestmark = pytest.mark.slow

K = 60
FLUSH = 1.2  # seconds: Metrics.flush_interval (1 s) and some slack
BODY: dict[str, Any] = {
    "model": "projectile",
    "inputs": {
        "speed": {"value": [10, 20], "unit": "m/s"},
        "angle": {"value": 30, "unit": "deg"},
        "g": {"value": 9.81, "unit": "m/s^2"},
    },
}


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_counters_sum_over_three_workers(tmp_path: Path):
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    (prom_dir / "counter_99999.db").write_bytes(b"stale file of an earlier run")
    with run_server(tmp_path, workers=3, PROMETHEUS_MULTIPROC_DIR=str(prom_dir)) as server:
        # New connections each time, so requests spread over the workers.
        for _ in range(K):
            r = httpx.post(server.url + "/predict", json=BODY, headers={"connection": "close"})
            assert r.status_code == 200
        for _ in range(5):
            r = httpx.post(server.url + "/predict", json={**BODY, "model": "nope"})
            assert r.status_code == 404
        bad_unit = {**BODY, "inputs": {**BODY["inputs"], "g": {"value": 1, "unit": "kg"}}}
        for _ in range(3):
            assert httpx.post(server.url + "/predict", json=bad_unit).status_code == 422
        # Workers keep counts in memory and write them out every second (FLUSH below).
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and sample(
                httpx.get(server.url + "/metrics", headers={"connection": "close"}).text,
                "http_requests_total",
                handler="/predict",
            )
            < K + 8
        ):
            time.sleep(0.2)
        time.sleep(FLUSH)  # one more interval: every worker has flushed everything since
        pids = {f.name for f in prom_dir.iterdir()}
        scrapes = [
            httpx.get(server.url + "/metrics", headers={"connection": "close"}).text
            for _ in range(6)
        ]
    workers = {m for p in pids for m in re.findall(r"_(\d+)\.db$", p)}
    assert len(workers) >= 2, pids  # the load really was spread
    for text in scrapes:  # whichever worker answers, the totals are the same
        assert sample(text, "dimtensor_predictions_total", model="projectile", outcome="ok") == K
        assert (
            sample(text, "dimtensor_predictions_total", model="unknown", outcome="model-not-found")
            == 5
        )
        assert sample(text, "dimtensor_unit_errors_total", kind="dimension-mismatch") == 3
        assert sample(text, "dimtensor_request_rows_count", model="projectile") == K
        assert sample(text, "dimtensor_request_rows_sum", model="projectile") == 2 * K
        assert sample(text, "dimtensor_inference_duration_seconds_count", model="projectile") == K
        assert sample(text, "http_requests_total", handler="/predict", status="200") == K
        assert sample(text, "dimtensor_models", state="ready") >= 2
    assert "99999" not in " ".join(pids)  # the stale file was removed at start
