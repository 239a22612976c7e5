"""The batch tier on a real cluster: the chart's batch preset (values-batch.yaml) as an Indexed
Job in a namespace that enforces Pod Security ``restricted``.

- The preset's Job completes, and the merge step the install's notes print (a pod of the Job's
  own spec running ``dimtensor-batch merge``) leaves a ``merged.parquet`` on the claim holding
  exactly the config's cross product, one row each, every range equal to v^2 sin(2θ)/g.
- A pod deleted while its shard is being written (SIGTERM, exit 75) is replaced, the
  replacement writes that shard again, and the merged output has no missing and no extra row.
- A config error (exit 2) fails the Job at once through the podFailurePolicy: one pod, no retry.

The output is read where it really is: the PersistentVolume bound to the claim is a host-path
volume of this node (``kubectl get pvc`` -> ``spec.volumeName`` -> the PV's
``spec.hostPath.path``), which the test process, root on the node, reads with pyarrow.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest
import yaml

from jobkit.exits import ExitCode
from tests.cluster.kube import (
    CHART,
    Cluster,
    assert_complete,
    claim_dir,
    condition,
    finished_job,
    pod_logs,
    pods_report,
    poll,
    selector,
    the_job,
)

pytestmark = pytest.mark.timeout(900)

PRESET = CHART / "values-batch.yaml"
RELEASE = "sweep"
MERGED = "merged.parquet"  # batch.merge.MERGED

# Test settings, not the preset's own: the node has two cores shared with other tests, so each
# batch pod (and the merge pod, which copies the Job's pod spec) requests 100m and 256Mi
# instead of a core and 1Gi; the limits stay the preset's.
SMALL = ("batch.resources.requests.cpu=100m", "batch.resources.requests.memory=256Mi")

# Units of the sweep's parameters and outputs, to SI (the preset's and this test's configs).
SI = {
    "km/h": 1 / 3.6,
    "m/s": 1.0,
    "deg": math.pi / 180,
    "rad": 1.0,
    "m/s^2": 1.0,
    "m": 1.0,
    "s": 1.0,
}


def preset_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(PRESET.read_text())["batch"]["config"]
    return config


def preset_shards() -> int:
    shards: int = yaml.safe_load(PRESET.read_text())["batch"]["shards"]
    return shards


def job_config(cluster: Cluster, namespace: str, configmap: str) -> dict[str, Any]:
    """The config file the pods read (the ConfigMap's ``config.yaml``), keys in its order: Helm
    renders maps with sorted keys, so this order, not the values file's, is the sweep's."""
    data = cluster.get("configmap", configmap, namespace)["data"]
    config: dict[str, Any] = yaml.safe_load(data["config.yaml"])
    return config


def run_merge_pod(cluster: Cluster, namespace: str, release: str) -> str:
    """Runs the merge step exactly as the install's notes print it (the Job's pod spec,
    ``dimtensor-batch merge``), as a plain pod; returns its log once it has succeeded."""
    notes = cluster.helm("get", "notes", release, "-n", namespace)
    found = re.search(r"kubectl -n \S+ run (\S+) .*?--overrides='([^']+)'", notes, re.S)
    assert found, f"the notes print no merge command:\n{notes}"
    name, overrides = found.group(1), json.loads(found.group(2))
    pod = {**overrides, "kind": "Pod", "metadata": {**overrides["metadata"], "name": name}}
    cluster.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(pod))

    def done() -> str | None:
        phase: str | None = cluster.get("pod", name, namespace)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = poll(f"merge pod {name} to finish", done, timeout=300, interval=2)
    logs = pod_logs(cluster, namespace, name)
    assert phase == "Succeeded", (
        f"merge pod {name}: {phase}\n{logs}\n{cluster.events(namespace)[-3000:]}"
    )
    return logs


# --- the expected rows ------------------------------------------------------------------------


def axis(param: dict[str, Any]) -> list[float]:
    """One parameter's values as the batch CLI's sweep takes them (batch/designs.py)."""
    if "value" in param:
        return [float(param["value"])]
    if "values" in param:
        return [float(v) for v in param["values"]]
    start, stop, count = param["linspace"]
    return [float(v) for v in np.linspace(start, stop, int(count))]


def expected_grid(config: dict[str, Any]) -> dict[str, npt.NDArray[np.float64]]:
    """The config's cross product, first parameter slowest (itertools.product's order, as
    batch/designs.py documents it)."""
    names = list(config["parameters"])
    rows = list(itertools.product(*(axis(config["parameters"][n]) for n in names)))
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))
    return {name: table[:, i] for i, name in enumerate(names)}


def check_merged(path: Path, config: dict[str, Any]) -> int:
    """The merged file holds the config's cross product, once each, in order, with every range
    (and flight time) equal to the projectile formula; returns the row count."""
    grid = expected_grid(config)
    rows = len(next(iter(grid.values())))
    table = pq.read_table(path)
    assert table.num_rows == rows, (
        f"{path}: {table.num_rows} rows, the config's cross product has {rows}"
    )
    index = table.column("row").to_numpy()
    assert np.array_equal(index, np.arange(rows)), "the row index is not 0..n-1 once each"
    got = {name: table.column(name).to_numpy() for name in grid}
    stacked = np.stack([got[name] for name in grid], axis=1)
    assert np.unique(stacked, axis=0).shape[0] == rows, "a parameter combination appears twice"
    for name, values in grid.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-12, err_msg=f"column {name}")

    units = {p: config["parameters"][p]["unit"] for p in ("speed", "angle", "g")}
    v = got["speed"] * SI[units["speed"]]
    theta = got["angle"] * SI[units["angle"]]
    g = got["g"] * SI[units["g"]]
    outputs = config.get("outputs") or {"range": "m"}
    schema = table.schema
    assert schema.field("range").metadata[b"unit"].decode() == outputs["range"]
    # The model computes in float32: 1e-5 is a few of its ulps, far below any wrong formula.
    expected_range = v**2 * np.sin(2 * theta) / g / SI[outputs["range"]]
    np.testing.assert_allclose(table.column("range").to_numpy(), expected_range, rtol=1e-5)
    if "flight_time" in outputs:
        expected_time = 2 * v * np.sin(theta) / g / SI[outputs["flight_time"]]
        np.testing.assert_allclose(table.column("flight_time").to_numpy(), expected_time, rtol=1e-5)
    return rows


# --- the tests --------------------------------------------------------------------------------


def test_the_batch_preset_completes_and_merges_the_whole_sweep(cluster: Cluster) -> None:
    shards = preset_shards()
    assert shards >= 3, "the preset should split the sweep into 3 or more shards"
    with cluster.namespace("batch-preset") as namespace:
        cluster.install(RELEASE, namespace, PRESET, sets=SMALL, wait=False)
        name = the_job(cluster, namespace, RELEASE, "batch")
        spec = cluster.get("job", name, namespace)["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == (
            "Indexed",
            shards,
            2,
        )
        job = finished_job(cluster, namespace, name, timeout=600)
        assert_complete(cluster, namespace, RELEASE, "batch", job)
        assert job["status"].get("succeeded") == shards, job["status"]

        config = job_config(cluster, namespace, f"{RELEASE}-dimtensor-batch")
        assert config == preset_config()
        logs = run_merge_pod(cluster, namespace, RELEASE)
        out = claim_dir(cluster, namespace, f"{RELEASE}-dimtensor-batch") / f"{RELEASE}-dimtensor"
        rows = check_merged(out / MERGED, config)
        assert f"merged {shards} shard(s)" in logs, logs
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["rows"], summary["shards"]) == (rows, shards), summary


# The slow sweep: 360,000 speeds x 5 angles = 1.8M rows in 3 shards of 600,000 (about nine
# 65,536-row groups each), at most a quarter core per pod, so that a shard takes several
# seconds and a pod can be caught writing it. Test settings, as are the limits.
SLOW_SHARDS = 3
SLOW_SPEED = (10, 100, 360_000)
SLOW = (
    *SMALL,
    "batch.resources.limits.cpu=250m",
    f"batch.shards={SLOW_SHARDS}",
    "batch.parallelism=2",
    "batch.config.parameters.speed.linspace={{{},{},{}}}".format(*SLOW_SPEED),
)


def slow_config() -> dict[str, Any]:
    config = copy.deepcopy(preset_config())
    config["parameters"]["speed"]["linspace"] = list(SLOW_SPEED)
    return config


def shard_in_flight(folder: Path) -> tuple[int, Path] | None:
    """A shard whose part is being written: its temporary file, and no completion record."""
    for tmp in sorted(folder.glob(".part-*.parquet.*.tmp")) if folder.is_dir() else []:
        found = re.match(r"\.part-(\d+)-of-(\d+)\.parquet\.", tmp.name)
        if found and not (folder / f"part-{found.group(1)}-of-{found.group(2)}.done.json").exists():
            return int(found.group(1)), tmp
    return None


def test_a_pod_deleted_mid_shard_reruns_its_index_without_losing_or_doubling_rows(
    cluster: Cluster,
) -> None:
    release = "slow"
    with cluster.namespace("batch-kill") as namespace:
        cluster.install(release, namespace, PRESET, sets=SLOW, wait=False)
        name = the_job(cluster, namespace, release, "batch")
        out = claim_dir(cluster, namespace, f"{release}-dimtensor-batch") / f"{release}-dimtensor"

        def caught() -> tuple[int, Path] | None:
            if condition(cluster.get("job", name, namespace), "Failed"):
                raise AssertionError(
                    "the Job failed:\n"
                    + pods_report(cluster, namespace, selector(release, "batch"))
                )
            return shard_in_flight(out)

        index, tmp = poll("a pod writing its shard", caught, timeout=300, interval=0.2)
        label = f"batch.kubernetes.io/job-completion-index={index}"
        (victim,) = [
            p
            for p in cluster.items("pod", namespace, f"{selector(release, 'batch')},{label}")
            if p["status"].get("phase") == "Running"
        ]
        cluster.kubectl(
            "-n", namespace, "delete", "pod", victim["metadata"]["name"], "--wait=true", timeout=120
        )

        job = finished_job(cluster, namespace, name, timeout=600)
        assert_complete(cluster, namespace, release, "batch", job)
        assert not job["status"].get("failedIndexes"), job["status"]
        part = f"part-{index:05d}-of-{SLOW_SHARDS:05d}"
        reruns = [
            p
            for p in cluster.items("pod", namespace, f"{selector(release, 'batch')},{label}")
            if p["metadata"]["uid"] != victim["metadata"]["uid"]
        ]
        assert [p["status"]["phase"] for p in reruns] == ["Succeeded"], (
            f"index {index} after its pod was deleted: {[p['status'].get('phase') for p in reruns]}"
        )
        # The interruption (SIGTERM, exit 75) did not use up one of the index's retries: the
        # podFailurePolicy ignored it, and Kubernetes counts it apart on the replacement pod.
        counts = reruns[0]["metadata"]["annotations"]
        assert (
            counts.get("batch.kubernetes.io/job-index-failure-count"),
            counts.get("batch.kubernetes.io/job-index-ignored-failure-count"),
        ) == ("0", "1"), counts
        rerun_log = pod_logs(cluster, namespace, reruns[0]["metadata"]["name"])
        assert f"wrote {part}.parquet" in rerun_log, (
            f"the replacement of index {index} did not write {part} "
            f"(caught writing {tmp.name}):\n{rerun_log}"
        )

        config = job_config(cluster, namespace, f"{release}-dimtensor-batch")
        assert config == slow_config()
        run_merge_pod(cluster, namespace, release)
        rows = check_merged(out / MERGED, config)
        assert rows == SLOW_SPEED[2] * 5
        assert not list(out.glob(".*.tmp")), "temporary files left after the merge"


def test_a_config_error_fails_the_job_at_once_without_a_retry(cluster: Cluster) -> None:
    release = "broken"
    # Test settings: one pod at a time, so that "no retry" means exactly one pod; the config
    # error is a speed in kg (the model wants a length over a time).
    sets = (*SMALL, "batch.parallelism=1", "batch.config.parameters.speed.unit=kg")
    with cluster.namespace("batch-config-error") as namespace:
        cluster.install(release, namespace, PRESET, sets=sets, wait=False)
        name = the_job(cluster, namespace, release, "batch")
        sel = selector(release, "batch")

        def retried(job: dict[str, Any]) -> bool:
            return len(cluster.items("pod", namespace, sel)) > 1

        job = finished_job(cluster, namespace, name, timeout=300, give_up=retried)
        pods = cluster.items("pod", namespace, sel)
        report = f"{json.dumps(job.get('status'))}\n" + pods_report(
            cluster, namespace, selector(release, "batch")
        )
        assert len(pods) == 1, f"{len(pods)} pods ran for a config error:\n{report}"
        failed = condition(job, "Failed")
        assert failed is not None, f"the Job did not fail:\n{report}"
        assert failed["reason"] == "PodFailurePolicy", report
        (status,) = pods[0]["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == ExitCode.CONFIG, status
        assert pods[0]["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "0"
        assert not job["status"].get("completedIndexes"), job["status"]
        log = pod_logs(cluster, namespace, pods[0]["metadata"]["name"])
        assert "input 'speed'" in log, log
        assert "received unit 'kg'" in log, log
