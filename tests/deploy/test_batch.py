"""The batch tier of the chart: an Indexed Job (or a CronJob with the same job spec) running
`dimtensor-batch run` over shards, its config file, its output claim and its NOTES.

The CLI's exit codes and what the Job does with each are written once, in EXIT_CODES; the
podFailurePolicy of every rendered Job, CronJob and raw example must follow that table.
Strict validation for every Kubernetes version runs in test_validate.py (the batch preset
and ci/09, ci/10 are scenarios there), checkov and the cross-reference checks likewise.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    BATCH_SCENARIOS,
    CHART,
    CI_VALUES,
    EXAMPLES,
    NAMESPACE,
    PRESETS,
    RELEASE,
    SCENARIOS,
    Doc,
    Render,
    assert_disabled_tier_renders_nothing_of_it,
    assert_job_named_by_its_spec,
    env,
    expected_failure_rules,
    load_docs,
    merged_values,
    mounts,
    notes,
    render_with,
    run,
    tool,
    volume,
)

# The CLI's exit codes (batch/exits.py, ExitCode by name) and the podFailurePolicy action each
# one maps to, in the order of the rules; None: no rule, the failure counts against
# backoffLimitPerIndex (the Job's default). Exit 4 (`merge` refused) never comes from the Job.
EXIT_CODES: dict[int, tuple[str, str | None]] = {
    2: ("CONFIG", "FailJob"),  # refused before any work: every index would fail alike
    3: ("INPUT", "FailIndex"),  # bad rows in this shard: a retry cannot help
    75: ("INTERRUPTED", "Ignore"),  # SIGTERM at a row-group boundary: the replacement resumes
    1: ("CRASH", None),  # retried, up to backoffLimitPerIndex
}
CONTAINER = "batch"
EXPECTED_RULES = expected_failure_rules(CONTAINER, EXIT_CODES)
CONFIG_FILE = "/etc/dimtensor-batch/config.yaml"
DATA_MOUNT = "/data"
PRESET = CHART / "values-batch.yaml"
BATCH_COMPONENT = {"app.kubernetes.io/component": "batch"}


def job_spec(render: Render) -> Doc:
    """The spec of the scenario's Job, or of its CronJob's jobTemplate."""
    jobs = render.of_kind("Job") + [c["spec"]["jobTemplate"] for c in render.of_kind("CronJob")]
    assert len(jobs) == 1, f"{render.scenario}: {len(jobs)} jobs"
    spec: Doc = jobs[0]["spec"]
    return spec


def pod_spec(render: Render) -> Doc:
    spec: Doc = job_spec(render)["template"]["spec"]
    return spec


def container(spec: Doc) -> Doc:
    assert len(spec["containers"]) == 1
    c: Doc = spec["containers"][0]
    return c


def the(docs: list[Doc], kind: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def test_the_batch_scenarios_are_rendered_validated_and_linted() -> None:
    """The preset and the CI files go through conftest's renders for every Kubernetes
    version, so test_validate/test_lint/test_checkov/test_crossref cover the batch objects."""
    assert PRESETS["batch"] == PRESET
    assert {"batch", "09-batch", "10-batch-cronjob"} <= set(BATCH_SCENARIOS)
    assert set(BATCH_SCENARIOS) <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS)
def test_pod_failure_policy_follows_the_exit_code_table(
    scenario: str, rendered: dict[str, Render]
) -> None:
    spec = job_spec(rendered[scenario])
    assert spec["podFailurePolicy"]["rules"] == EXPECTED_RULES
    assert container(spec["template"]["spec"])["name"] == CONTAINER
    codes = [r["onExitCodes"]["values"][0] for r in spec["podFailurePolicy"]["rules"][1:]]
    assert codes == [2, 3, 75]  # the order the issue asks for
    assert 1 not in codes, "a crash is retried: it must not match a rule"


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS)
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
    assert spec["podReplacementPolicy"] == "Failed"
    for key in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        assert spec.get(key) == values[key], key
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == values["terminationGracePeriodSeconds"]
    assert "selector" not in spec, "the Job controller makes its own selector"


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


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS)
def test_environment_shards_and_output(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    values = merged_values(scenario)["batch"]
    spec = job_spec(render)
    pod = spec["template"]["spec"]
    c = container(pod)
    variables = env(c)
    assert variables["BATCH_SHARDS"] == str(spec["completions"])
    assert "JOB_COMPLETION_INDEX" not in variables, "Kubernetes sets it in Indexed mode"
    assert variables["TORCH_THREADS"] == variables["OMP_NUM_THREADS"] == str(values["torchThreads"])
    assert variables["HOME"] == "/tmp"  # noqa: S108 - an emptyDir, as below
    assert "emptyDir" in volume(pod, mounts(c)["/tmp"]["name"])  # noqa: S108

    data = mounts(c)[DATA_MOUNT]
    assert not data.get("readOnly", False)
    output = variables["BATCH_OUTPUT"]
    assert output.startswith(DATA_MOUNT + "/"), output
    assert ".." not in output.split("/")
    fullname = f"{RELEASE}-dimtensor"
    assert output == f"{DATA_MOUNT}/{values['outputPath'] or fullname}"

    claim = volume(pod, data["name"])["persistentVolumeClaim"]["claimName"]
    existing = values["persistence"]["existingClaim"]
    assert claim == (existing or f"{fullname}-batch")
    if not existing:
        pvc = next(
            p for p in render.of_kind("PersistentVolumeClaim") if p["metadata"]["name"] == claim
        )
        assert pvc["spec"]["accessModes"] == values["persistence"]["accessModes"]
        assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS)
def test_config_file_from_the_configmap(scenario: str, rendered: dict[str, Render]) -> None:
    render = rendered[scenario]
    spec = job_spec(render)
    pod = spec["template"]["spec"]
    c = container(pod)
    assert c["args"] == ["batch", "run", CONFIG_FILE]
    assert "command" not in c, "the image's entrypoint (dimtensor) runs it"
    directory, filename = CONFIG_FILE.rsplit("/", 1)
    mount = mounts(c)[directory]
    assert mount["readOnly"] is True
    source = volume(pod, mount["name"])["configMap"]
    assert source["items"] == [{"key": filename, "path": filename}]
    configmap = next(
        m for m in render.of_kind("ConfigMap") if m["metadata"]["name"] == source["name"]
    )
    text = configmap["data"][filename]
    assert yaml.safe_load(text) == merged_values(scenario)["batch"]["config"]
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


def test_null_limits_are_left_out(rendered: dict[str, Render]) -> None:
    spec = job_spec(rendered["10-batch-cronjob"])
    assert "activeDeadlineSeconds" not in spec
    assert "ttlSecondsAfterFinished" not in spec


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - set(BATCH_SCENARIOS)))
def test_disabled_batch_renders_nothing(scenario: str, rendered: dict[str, Render]) -> None:
    for doc in rendered[scenario].docs:
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        assert component != "batch", scenario
        if doc["kind"] in {"Job", "CronJob"}:
            assert component == "training", scenario


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS)
def test_batch_values_without_batch_enabled_change_nothing(scenario: str, tmp_path: Path) -> None:
    assert_disabled_tier_renders_nothing_of_it(scenario, "batch", tmp_path)


def test_job_name_changes_with_the_job_spec_only() -> None:
    job_name = assert_job_named_by_its_spec(
        "batch", lambda docs: the(docs, "Job"), PRESET, ["batch.config.model=pendulum"]
    )
    long = job_name("--set", "fullnameOverride=" + "x" * 63)
    assert len(long) <= 59, "room for -<index> in a 63-character hostname"


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
    claim = next(
        p
        for p in rendered["batch"].of_kind("PersistentVolumeClaim")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "batch"
    )
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_without_persistence_the_output_is_an_emptydir() -> None:
    docs = render_with(PRESET, extra=("--set", "batch.persistence.enabled=false"))
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    pod = the(docs, "Job")["spec"]["template"]["spec"]
    assert volume(pod, "data") == {"name": "data", "emptyDir": {}}


def test_batch_network_policy_selects_only_batch_pods(rendered: dict[str, Render]) -> None:
    render = rendered["09-batch"]
    policies = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in render.of_kind("NetworkPolicy")
    }
    policy = policies["batch"]["spec"]
    labels = job_spec(render)["template"]["metadata"]["labels"]
    api_labels = render.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = policy["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert not selector.items() <= api_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy, "nothing may connect to a batch pod"


def _merge_pod(text: str) -> tuple[list[str], dict[str, Any]]:
    """The `kubectl run` merge command of the NOTES, split, and its --overrides object."""
    start = text.index("kubectl -n dimtensor run ")
    command = text[start:].split("\n\n", 1)[0].replace("\\\n", " ")
    words = shlex.split(command)
    overrides = next(w for w in words if w.startswith("--overrides="))
    return words, json.loads(overrides.removeprefix("--overrides="))


def test_notes_watch_and_merge_a_job(rendered: dict[str, Render]) -> None:
    text = notes(PRESET)
    job = rendered["batch"].one("Job")
    name = job["metadata"]["name"]
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=batch"
    assert f"kubectl -n {NAMESPACE} wait --for=condition=Complete job/{name}" in text
    assert f"kubectl -n {NAMESPACE} get job -l {selector}" in text
    assert f"kubectl -n {NAMESPACE} logs -l {selector} --prefix" in text
    words, overrides = _merge_pod(text)
    assert words[:5] == ["kubectl", "-n", NAMESPACE, "run", f"{RELEASE}-dimtensor-batch-merge"]
    assert {"--rm", "--attach", "--restart=Never"} <= set(words)
    merge = overrides["spec"]
    pod = job["spec"]["template"]["spec"]
    c = container(merge)
    assert c["args"] == ["batch", "merge", CONFIG_FILE]
    assert c["name"] == words[4], "kubectl attaches to the pod's one container"
    assert c["env"] == container(pod)["env"]
    assert c["volumeMounts"] == container(pod)["volumeMounts"]
    assert c["securityContext"] == container(pod)["securityContext"]
    assert merge["volumes"] == pod["volumes"]
    assert merge["securityContext"] == pod["securityContext"]
    assert merge["automountServiceAccountToken"] is False
    assert overrides["metadata"]["labels"].items() >= BATCH_COMPONENT.items()
    assert "WARNING" not in text
    assert "curl" not in text, "the preset has no API tier"


def test_notes_of_a_cronjob(rendered: dict[str, Render]) -> None:
    text = notes(CI_VALUES["10-batch-cronjob"])
    cron = rendered["10-batch-cronjob"].one("CronJob")["metadata"]["name"]
    assert f"create job --from=cronjob/{cron} " in text
    assert "wait --for=condition=Complete" not in text
    _, overrides = _merge_pod(text)
    assert container(overrides["spec"])["args"][1] == "merge"


def test_notes_warn_about_a_single_node_claim_and_no_claim() -> None:
    text = notes(PRESET, "--set", "batch.persistence.accessModes={ReadWriteOnce}")
    assert "WARNING: batch.parallelism is 2 but the output claim is not ReadWriteMany" in text
    text = notes(PRESET, "--set", "batch.persistence.enabled=false")
    assert "WARNING: batch.persistence.enabled is false" in text
    assert "dimtensor-batch merge" not in text


def test_raw_example_follows_the_exit_code_table() -> None:
    docs = load_docs((EXAMPLES / "batch-job.yaml").read_text(encoding="utf-8"))
    assert [d["kind"] for d in docs] == [
        "ConfigMap",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Job",
    ]
    job = the(docs, "Job")
    assert job["spec"]["podFailurePolicy"]["rules"] == EXPECTED_RULES
    assert job["metadata"]["namespace"] == "dimtensor"
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
    job = the(load_docs((EXAMPLES / "batch-job.yaml").read_text(encoding="utf-8")), "Job")
    job_pod = job["spec"]["template"]["spec"]
    merge = container(pod["spec"])
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


def test_the_exit_code_table_is_the_clis() -> None:
    """EXIT_CODES names ExitCode members by the numbers the CLI exits with; every code a
    Job's pod can end with (all but OK, and merge's 4) has a row."""
    from batch.exits import ExitCode

    assert {code: ExitCode[name].value for code, (name, _) in EXIT_CODES.items()} == {
        code: code for code in EXIT_CODES
    }
    job_codes = set(ExitCode) - {ExitCode.OK, ExitCode.INCOMPLETE}
    assert {ExitCode(code) for code in EXIT_CODES} == job_codes


def _configs_to_check(rendered: dict[str, Render]) -> list[tuple[str, Doc, Doc]]:
    """(where, the config.yaml document, the batch container) of every batch render and of
    the raw example."""
    found = []
    for scenario in BATCH_SCENARIOS:
        render = rendered[scenario]
        pod = job_spec(render)["template"]["spec"]
        for configmap in render.of_kind("ConfigMap"):
            if "config.yaml" in configmap.get("data", {}):
                doc = yaml.safe_load(configmap["data"]["config.yaml"])
                found.append((scenario, doc, container(pod)))
    docs = load_docs((EXAMPLES / "batch-job.yaml").read_text(encoding="utf-8"))
    example = yaml.safe_load(the(docs, "ConfigMap")["data"]["config.yaml"])
    found.append(
        ("batch-job.yaml", example, container(the(docs, "Job")["spec"]["template"]["spec"]))
    )
    return found


def test_every_deployed_config_passes_the_clis_validate(
    rendered: dict[str, Render], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart and the example mount is a config `dimtensor-batch validate` accepts,
    with the Job's own BATCH_* environment (its /data output mapped into a temporary folder,
    the embedded models standing in for a mounted repository)."""
    from batch.cli import main

    for name in ("MODEL_REPOSITORY", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    checked = 0
    for where, doc, c in _configs_to_check(rendered):
        variables = env(c)
        monkeypatch.setenv("BATCH_SHARDS", variables["BATCH_SHARDS"])
        output = variables["BATCH_OUTPUT"]
        assert output.startswith(DATA_MOUNT + "/"), where
        monkeypatch.setenv("BATCH_OUTPUT", str(tmp_path / output.lstrip("/")))
        path = tmp_path / f"{where}.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        assert main(["validate", str(path)]) == 0, where
        checked += 1
    assert checked == len(BATCH_SCENARIOS) + 1
