"""The batch tier of the chart, what only it does: an Indexed Job over shards (or a CronJob with
the same job spec) running `dimtensor-batch run`, its output claim shared by the shards, the
models the API reads, and NOTES and a README Pod that merge the shards.

What the batch and training tiers share (the exit-code table, config, claim, security, names,
NOTES, `validate`) is checked over both in test_jobs.py.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import (
    CHART,
    CI_VALUES,
    EXAMPLES,
    NAMESPACE,
    RELEASE,
    Render,
    merged_values,
    notes,
    render_with,
)
from tests.support.job_tiers import BATCH_TIER, only_container
from tests.support.k8s import Doc, env, load_docs, mounts, volume
from tests.support.tools import run, tool

TIER = BATCH_TIER
PRESET = TIER.preset
CONFIG_FILE = TIER.config_file
BATCH_COMPONENT = {"app.kubernetes.io/component": "batch"}
EXAMPLE = EXAMPLES / "batch-job.yaml"


def job_spec(render: Render) -> Doc:
    """The spec of the scenario's Job, or of its CronJob's jobTemplate."""
    spec: Doc = TIER.job(render.docs)["spec"]
    return spec


def pod_spec(render: Render) -> Doc:
    return TIER.pod(render.docs)


def container(pod: Doc) -> Doc:
    return TIER.container(pod)


def the(docs: list[Doc], kind: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


@pytest.mark.parametrize("scenario", TIER.scenarios)
def test_job_is_indexed_with_retries_per_shard(scenario: str, rendered: dict[str, Render]) -> None:
    values = merged_values(scenario)["batch"]
    spec = job_spec(rendered[scenario])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == values["shards"]
    assert spec["parallelism"] == values["parallelism"]
    assert spec["backoffLimitPerIndex"] == values["backoffLimitPerIndex"]
    max_failed = values["maxFailedIndexes"]
    assert spec["maxFailedIndexes"] == (values["shards"] if max_failed is None else max_failed)
    assert spec["maxFailedIndexes"] <= spec["completions"]
    assert "backoffLimit" not in spec, "backoffLimitPerIndex governs retries"


def test_preset_job_fields(rendered: dict[str, Render]) -> None:
    """values-batch.yaml: 4 shards, 2 at a time, the defaults for the rest."""
    spec = job_spec(rendered["batch"])
    assert (spec["completions"], spec["parallelism"]) == (4, 2)
    assert spec["backoffLimitPerIndex"] == 2
    assert spec["maxFailedIndexes"] == 4
    assert spec["activeDeadlineSeconds"] == 86400
    assert spec["ttlSecondsAfterFinished"] == 604800
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert not rendered["batch"].of_kind("Deployment"), "the preset turns the API off"


@pytest.mark.parametrize("scenario", TIER.scenarios)
def test_shards_and_the_kept_output_claim(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    values = merged_values(scenario)["batch"]
    spec = job_spec(render)
    variables = env(container(spec["template"]["spec"]))
    assert variables["BATCH_SHARDS"] == str(spec["completions"])
    assert "JOB_COMPLETION_INDEX" not in variables, "Kubernetes sets it in Indexed mode"
    if not values["persistence"]["existingClaim"]:
        pvc = TIER.the(render.docs, "PersistentVolumeClaim")
        assert pvc["spec"]["accessModes"] == values["persistence"]["accessModes"]
        assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("scenario", TIER.scenarios)
def test_the_job_runs_the_config_and_restarts_when_it_changes(
    scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    spec = job_spec(render)
    c = container(spec["template"]["spec"])
    assert c["args"] == ["batch", "run", CONFIG_FILE]
    assert "command" not in c, "the image's entrypoint (dimtensor) runs it"
    text = TIER.the(render.docs, "ConfigMap")["data"]["config.yaml"]
    checksum = spec["template"]["metadata"]["annotations"]["checksum/config"]
    assert checksum == hashlib.sha256(text.removesuffix("\n").encode()).hexdigest()


def test_preset_holds_the_example_sweep_as_written() -> None:
    text = PRESET.read_text(encoding="utf-8")
    for line in (
        "    kind: sweep",
        "    model: projectile              # name (and optional version) in the model repository",
        "      speed: {unit: km/h, linspace: [10, 100, 10]}   # start, stop, count; also logspace, values",  # noqa: E501
        "      angle: {unit: deg, values: [15, 30, 45, 60, 75]}",
        "      g:     {unit: m/s^2, value: 9.81}",
        "    outputs: {range: m, flight_time: s}               # output -> unit; omitted: the model's units",  # noqa: E501
        "    output: out/projectile-sweep                       # a folder (a PVC mount in Kubernetes)",  # noqa: E501
    ):
        assert f"\n{line}\n" in text, line
    config = yaml.safe_load(text)["batch"]["config"]
    assert config["parameters"]["speed"] == {"unit": "km/h", "linspace": [10, 100, 10]}
    assert config["outputs"] == {"range": "m", "flight_time": "s"}


def test_pod_security_image_and_models_equal_the_api_pods(rendered: dict[str, Render]) -> None:
    """ci/09 deploys both tiers reading the chart's model claim: the batch pod runs like an
    API pod and mounts the same models read-only."""
    render = rendered["09-batch"]
    api = render.one("Deployment")["spec"]["template"]["spec"]
    batch = pod_spec(render)
    assert batch["securityContext"] == api["securityContext"]
    assert container(batch)["securityContext"] == api["containers"][0]["securityContext"]
    for key in ("automountServiceAccountToken", "enableServiceLinks"):
        assert batch[key] is False
        assert api[key] is False
    assert container(batch)["image"] == api["containers"][0]["image"]
    assert container(batch)["imagePullPolicy"] == api["containers"][0]["imagePullPolicy"]
    assert volume(batch, "models") == volume(api, "models")
    assert "persistentVolumeClaim" in volume(batch, "models")
    api_mount = next(m for m in api["containers"][0]["volumeMounts"] if m["name"] == "models")
    batch_mount = next(m for m in container(batch)["volumeMounts"] if m["name"] == "models")
    assert batch_mount == api_mount
    assert batch_mount["readOnly"] is True
    api_env = next(m for m in render.of_kind("ConfigMap") if m["metadata"]["name"].endswith("-api"))
    for key in ("MODEL_REPOSITORY", "MODEL_REPOSITORY_TRUSTED"):
        assert env(container(batch))[key] == api_env["data"][key], key


def test_models_from_values_reach_the_batch_pod_without_the_api(
    rendered: dict[str, Render],
) -> None:
    render = rendered["10-batch-cronjob"]
    pod = pod_spec(render)
    models = volume(pod, "models")["configMap"]
    assert models["name"] in render.names("ConfigMap"), "the manifests ConfigMap is rendered"
    assert models["items"] == [{"key": "projectile_1.yaml", "path": "projectile/1/model.yaml"}]
    assert env(container(pod))["MODEL_REPOSITORY"] == "/models"
    assert mounts(container(pod))["/models"]["readOnly"] is True


def test_image_only_models_set_no_repository(rendered: dict[str, Render]) -> None:
    pod = pod_spec(rendered["batch"])
    assert "MODEL_REPOSITORY" not in env(container(pod))
    assert "models" not in {v["name"] for v in pod["volumes"]}


def test_scheduling_settings_reach_the_pods(rendered: dict[str, Render]) -> None:
    values = merged_values("10-batch-cronjob")["batch"]
    render = rendered["10-batch-cronjob"]
    pod = pod_spec(render)
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert pod[key] == values[key], key
    assert pod["serviceAccountName"] == values["serviceAccountName"]
    assert container(pod)["resources"] == values["resources"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    template = job_spec(render)["template"]["metadata"]
    assert template["labels"]["tier"] == "batch"
    assert template["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"
    assert template["annotations"]["owner"] == "physics-ml@example.com"  # commonAnnotations


def test_cronjob_carries_the_same_job_spec() -> None:
    job = the(render_with(PRESET), "Job")
    docs = render_with(PRESET, extra=("--set", "batch.schedule.enabled=true"))
    assert not [d for d in docs if d["kind"] == "Job"], "the CronJob replaces the one-off Job"
    cron = the(docs, "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"] == job["spec"]
    assert cron["spec"]["jobTemplate"]["metadata"]["labels"] == job["metadata"]["labels"]
    assert cron["metadata"]["name"] == f"{RELEASE}-dimtensor-batch"


def test_cronjob_schedule_fields(rendered: dict[str, Render]) -> None:
    schedule = merged_values("10-batch-cronjob")["batch"]["schedule"]
    spec = rendered["10-batch-cronjob"].one("CronJob")["spec"]
    assert spec["schedule"] == schedule["cron"]
    for key in (
        "timeZone",
        "suspend",
        "concurrencyPolicy",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "startingDeadlineSeconds",
    ):
        assert spec[key] == schedule[key], key
    defaults = the(render_with(PRESET, extra=("--set", "batch.schedule.enabled=true")), "CronJob")
    assert defaults["spec"]["concurrencyPolicy"] == "Forbid"


def test_long_names_fit_kubernetes_limits() -> None:
    docs = render_with(
        PRESET,
        extra=("--set", "fullnameOverride=" + "y" * 63, "--set", "batch.schedule.enabled=true"),
    )
    cron = the(docs, "CronJob")
    assert len(cron["metadata"]["name"]) <= 52, "a CronJob adds 11 characters to its Jobs' names"


def test_default_claim_is_read_write_many(rendered: dict[str, Render]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["batch"]["persistence"]["accessModes"] == ["ReadWriteMany"]
    claim = TIER.the(rendered["batch"].docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("scenario", TIER.scenarios)
def test_nothing_may_connect_to_a_batch_pod(scenario: str, rendered: dict[str, Render]) -> None:
    policy = TIER.the(rendered[scenario].docs, "NetworkPolicy")["spec"]
    assert "ingress" not in policy


def _merge_pod(text: str) -> tuple[list[str], dict[str, Any]]:
    """The `kubectl run` merge command of the NOTES, split, and its --overrides object."""
    start = text.index("kubectl -n dimtensor run ")
    command = text[start:].split("\n\n", 1)[0].replace("\\\n", " ")
    words = shlex.split(command)
    overrides = next(w for w in words if w.startswith("--overrides="))
    return words, json.loads(overrides.removeprefix("--overrides="))


def test_notes_merge_the_shards_in_a_pod_like_the_jobs(rendered: dict[str, Render]) -> None:
    text = notes(PRESET)
    job = rendered["batch"].one("Job")
    words, overrides = _merge_pod(text)
    assert words[:5] == ["kubectl", "-n", NAMESPACE, "run", f"{RELEASE}-dimtensor-batch-merge"]
    assert {"--rm", "--attach", "--restart=Never"} <= set(words)
    merge = overrides["spec"]
    pod = job["spec"]["template"]["spec"]
    c = only_container(merge)
    assert c["args"] == ["batch", "merge", CONFIG_FILE]
    assert c["name"] == words[4], "kubectl attaches to the pod's one container"
    assert c["env"] == container(pod)["env"]
    assert c["volumeMounts"] == container(pod)["volumeMounts"]
    assert c["securityContext"] == container(pod)["securityContext"]
    assert merge["volumes"] == pod["volumes"]
    assert merge["securityContext"] == pod["securityContext"]
    assert merge["automountServiceAccountToken"] is False
    assert overrides["metadata"]["labels"].items() >= BATCH_COMPONENT.items()


def test_notes_of_a_cronjob(rendered: dict[str, Render]) -> None:
    text = notes(CI_VALUES["10-batch-cronjob"])
    cron = rendered["10-batch-cronjob"].one("CronJob")["metadata"]["name"]
    assert f"create job --from=cronjob/{cron} " in text
    assert "wait --for=condition=Complete" not in text
    _, overrides = _merge_pod(text)
    assert only_container(overrides["spec"])["args"][1] == "merge"


def test_notes_warn_about_a_single_node_claim_and_no_claim() -> None:
    text = notes(PRESET, "--set", "batch.persistence.accessModes={ReadWriteOnce}")
    assert "WARNING: batch.parallelism is 2 but the output claim is not ReadWriteMany" in text
    text = notes(PRESET, "--set", "batch.persistence.enabled=false")
    assert "WARNING: batch.persistence.enabled is false" in text
    assert "dimtensor-batch merge" not in text


def test_raw_example_is_a_config_a_claim_a_policy_and_an_indexed_job() -> None:
    docs = load_docs(EXAMPLE.read_text(encoding="utf-8"))
    assert [d["kind"] for d in docs] == [
        "ConfigMap",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Job",
    ]
    job = the(docs, "Job")
    assert env(container(job["spec"]["template"]["spec"]))["BATCH_SHARDS"] == str(
        job["spec"]["completions"]
    )


def readme_merge_pod() -> Doc:
    """The merge Pod the examples README applies from a heredoc."""
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    body = text.split("kubectl apply -f - <<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    pod: Doc = yaml.safe_load(body)
    return pod


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_readme_merge_pod_validates(version: str, tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump(readme_merge_pod()), encoding="utf-8")
    result = run([tool("venv/bin/kubernetes-validate"), "--strict", "-k", version, path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource pod/dimtensor-batch-merge" in result.stdout


def test_readme_merge_pod_reads_what_the_example_job_wrote() -> None:
    pod = readme_merge_pod()
    job = the(load_docs(EXAMPLE.read_text(encoding="utf-8")), "Job")
    job_pod = job["spec"]["template"]["spec"]
    merge = only_container(pod["spec"])
    assert merge["command"][-1].startswith(f"dimtensor-batch merge {CONFIG_FILE} ")
    job_env = env(container(job_pod))
    for key, value in env(merge).items():
        assert job_env[key] == value, key
    assert {"BATCH_SHARDS", "BATCH_OUTPUT"} <= set(env(merge))
    assert mounts(merge) == mounts(container(job_pod))
    for name in ("config", "data"):
        ours, theirs = volume(pod["spec"], name), volume(job_pod, name)
        source = next(k for k in ours if k != "name")
        assert source in theirs, name
        key = "claimName" if source == "persistentVolumeClaim" else "name"
        assert ours[source][key] == theirs[source][key], name
    assert pod["spec"]["securityContext"].items() >= {"runAsNonRoot": True}.items()
    assert pod["metadata"]["labels"].items() >= BATCH_COMPONENT.items()
