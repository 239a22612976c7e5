"""The training tier of the chart, what only it does: `dimtensor-train` as a Job on one node,
or as an Indexed Job over several nodes whose pods find index 0 through a headless Service (the
Kubeflow PET_* contract torchrun reads), its checkpoint claim, the export into the model
repository, GPUs, and its NOTES.

What the batch and training tiers share (the exit-code table, config, claim, security, names,
NOTES, `validate`) is checked over both in test_jobs.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import (
    CHART,
    CI_VALUES,
    EXAMPLES,
    NAMESPACE,
    SCENARIOS,
    Render,
    merged_values,
    notes,
    render_with,
)
from tests.support.job_tiers import FULLNAME, TRAINING_TIER
from tests.support.k8s import Doc, env, load_docs, mounts, volume

TIER = TRAINING_TIER
TRAINING_SCENARIOS = TIER.scenarios
CONFIG_FILE = TIER.config_file
CHECKPOINTS = TIER.claim_mount
PORT = 29500
PRESET = TIER.preset
DDP = "11-training-ddp"
GPU = "12-training-gpu"
PET = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
SINGLE_EXAMPLE = EXAMPLES / "training-job.yaml"
DDP_EXAMPLE = EXAMPLES / "training-ddp.yaml"

# The example config: the preset and both example values files hold
# these lines verbatim (indented under `config:`).
EXAMPLE_CONFIG_TEXT = """\
kind: pinn
problem: damped_oscillator
parameters:
  mass:      {value: 1.0, unit: kg}
  damping:   {value: 0.4, unit: N*s/m}
  stiffness: {value: 4.0, unit: N/m}
  x0:        {value: 10, unit: cm}
  v0:        {value: 0, unit: m/s}
  t_end:     {value: 10, unit: s}
steps: 3000
seed: 0
checkpoint_dir: out/oscillator/checkpoints
export: {repository: out/models, name: oscillator}
"""


# --- helpers ---------------------------------------------------------------------------------


training_docs = TIER.docs
the = TIER.the
container = TIER.container


def maybe(docs: list[Doc], kind: str) -> Doc | None:
    found = [d for d in training_docs(docs) if d["kind"] == kind]
    assert len(found) <= 1, f"{len(found)} training {kind}"
    return found[0] if found else None


def job_of(render: Render) -> Doc:
    return the(render.docs, "Job")


def pod_of(job: Doc) -> Doc:
    spec: Doc = job["spec"]["template"]["spec"]
    return spec


def example(path: Path) -> list[Doc]:
    return load_docs(path.read_text(encoding="utf-8"))


def nproc(values: Doc) -> int:
    if values["nprocPerNode"] is not None:
        return int(values["nprocPerNode"])
    return int(values["gpu"]["count"]) if values["gpu"]["enabled"] else 1


class _CountingLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping holding one key twice (PyYAML keeps the last)."""


def _no_duplicates(loader: _CountingLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k, deep=True) for k, _ in node.value]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise AssertionError(f"keys rendered twice {twice} at line {node.start_mark.line + 1}")
    return loader.construct_mapping(node, deep=True)


_CountingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def job_texts(text: str) -> list[str]:
    """The text of every training Job document of a render."""
    return [d for d in text.split("\n---\n") if re.search(r"^kind: Job$", d, re.M)]


# --- the scenarios -----------------------------------------------------------------------------


def test_training_is_off_by_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["training"]["enabled"] is False
    assert "training" not in {s for s in SCENARIOS if s.startswith("0")} & set(TRAINING_SCENARIOS)


@pytest.mark.parametrize("path", [PRESET, *sorted(EXAMPLES.glob("values-examples-training*.yaml"))])
def test_the_example_config_is_written_verbatim(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    indented = "".join(f"    {line}\n" for line in EXAMPLE_CONFIG_TEXT.splitlines())
    assert "  config:\n" + indented in text, path.name
    values = yaml.safe_load(text)
    assert values["training"]["config"] == yaml.safe_load(EXAMPLE_CONFIG_TEXT)
    assert values["api"]["enabled"] is False


def test_preset_trains_on_one_cpu_node(rendered: dict[str, Render]) -> None:
    render = rendered["training"]
    assert not render.of_kind("Deployment"), "the preset turns the API off"
    c = container(pod_of(job_of(render)))
    assert env(c)["TRAIN_DEVICE"] == "cpu"
    assert "nvidia.com/gpu" not in repr(c["resources"])
    assert job_of(render)["spec"]["completions"] == 1


# --- the Job -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", TRAINING_SCENARIOS)
def test_backoff_limit_counts_failed_pods_of_all_nodes(
    scenario: str, rendered: dict[str, Render]
) -> None:
    values = merged_values(scenario)["training"]
    spec = job_of(rendered[scenario])["spec"]
    limit = values["backoffLimit"]
    assert spec["backoffLimit"] == (3 * values["nodes"] if limit is None else limit)
    assert "backoffLimitPerIndex" not in spec, "one node's failure is the whole run's"


def test_grace_period_default_and_override(rendered: dict[str, Render]) -> None:
    assert pod_of(job_of(rendered["training"]))["terminationGracePeriodSeconds"] == 120
    assert pod_of(job_of(rendered[GPU]))["terminationGracePeriodSeconds"] == 300
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    line = next(
        x for x in text.splitlines() if "@param training.terminationGracePeriodSeconds" in x
    )
    assert "checkpoint time" in line, "the values comment says what to match it to"


def test_ddp_scenario_sets_a_deadline(rendered: dict[str, Render]) -> None:
    """ci/11 sets a deadline and leaves the TTL null (test_jobs.py: null limits left out)."""
    spec = job_of(rendered[DDP])["spec"]
    assert spec["activeDeadlineSeconds"] == 172800


# --- one node: run; several processes or nodes: launch -----------------------------------------


def test_single_node_is_a_plain_job_running_run(rendered: dict[str, Render]) -> None:
    render = rendered["training"]
    job = job_of(render)
    spec = job["spec"]
    assert "completionMode" not in spec, "a plain (NonIndexed) Job"
    assert (spec["completions"], spec["parallelism"]) == (1, 1)
    pod = pod_of(job)
    c = container(pod)
    assert c["args"] == ["train", "run", CONFIG_FILE]
    assert "command" not in c, "the image's entrypoint (dimtensor) runs it"
    assert not set(PET) & set(env(c)), "no torchrun on a single process"
    assert "subdomain" not in pod
    assert "ports" not in c
    assert maybe(render.docs, "Service") is None


@pytest.mark.parametrize("source", [DDP, "training-ddp.yaml"])
def test_ddp_is_an_indexed_job_found_through_a_headless_service(
    source: str, rendered: dict[str, Render]
) -> None:
    if source == DDP:
        docs = rendered[DDP].docs
        nodes, procs = 2, nproc(merged_values(DDP)["training"])
    else:
        docs, nodes, procs = example(DDP_EXAMPLE), 2, 1
    job, service = the(docs, "Job"), the(docs, "Service")
    spec, name = job["spec"], job["metadata"]["name"]
    pod = spec["template"]["spec"]
    c = container(pod)
    variables = env(c)

    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == nodes
    assert variables["PET_NNODES"] == str(spec["completions"])
    assert variables["PET_NPROC_PER_NODE"] == str(procs)
    assert "PET_NODE_RANK" not in variables, "launch takes it from JOB_COMPLETION_INDEX"
    assert "JOB_COMPLETION_INDEX" not in variables, "Kubernetes sets it in Indexed mode"
    assert c["args"] == ["train", "launch", CONFIG_FILE]

    # The headless Service: a DNS name per pod, published before the pods are ready.
    svc = service["spec"]
    assert svc["clusterIP"] == "None"
    assert svc["publishNotReadyAddresses"] is True
    assert svc["ports"] == [
        {"name": "rendezvous", "port": PORT, "targetPort": "rendezvous", "protocol": "TCP"}
    ]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"rendezvous": PORT}
    # It selects this Job's pods: the template's labels plus the one Kubernetes adds.
    pod_labels = {**spec["template"]["metadata"]["labels"], "batch.kubernetes.io/job-name": name}
    assert svc["selector"].items() <= pod_labels.items()
    assert svc["selector"]["batch.kubernetes.io/job-name"] == name

    # An Indexed Job's pod is named <job>-<index> as its hostname; under `subdomain` its DNS
    # name is <hostname>.<service>: index 0's is the master address.
    assert pod["subdomain"] == service["metadata"]["name"]
    hostname = f"{name}-0"
    assert variables["PET_MASTER_ADDR"] == f"{hostname}.{pod['subdomain']}"
    assert len(f"{name}-{nodes - 1}") <= 63, "every index's hostname is a DNS label"
    assert variables["PET_MASTER_PORT"] == str(PORT)


def test_several_processes_on_one_node_launch_without_a_service(
    rendered: dict[str, Render],
) -> None:
    """ci/12: 2 GPUs in one pod: torchrun starts one process per GPU on localhost."""
    render = rendered[GPU]
    spec = job_of(render)["spec"]
    assert "completionMode" not in spec
    assert spec["completions"] == 1
    c = container(spec["template"]["spec"])
    variables = env(c)
    assert c["args"][:2] == ["train", "launch"]
    values = merged_values(GPU)["training"]
    assert variables["PET_NPROC_PER_NODE"] == str(values["gpu"]["count"]) == "2"
    assert variables["PET_NNODES"] == "1"
    assert variables["PET_NODE_RANK"] == "0", "no JOB_COMPLETION_INDEX outside Indexed mode"
    assert variables["PET_MASTER_ADDR"] == "127.0.0.1"
    assert maybe(render.docs, "Service") is None
    assert "subdomain" not in spec["template"]["spec"]


def test_nproc_per_node_wins_over_the_gpu_count() -> None:
    c = container(
        pod_of(the(render_with(PRESET, extra=("--set", "training.nprocPerNode=3")), "Job"))
    )
    assert c["args"][1] == "launch"
    assert env(c)["PET_NPROC_PER_NODE"] == "3"
    docs = render_with(CI_VALUES[GPU], extra=("--set", "training.nprocPerNode=1"))
    c = container(pod_of(the(docs, "Job")))
    assert c["args"][1] == "run", "one process per pod: no torchrun"


# --- config, checkpoints, export -------------------------------------------------------------


@pytest.mark.parametrize("scenario", TRAINING_SCENARIOS)
def test_checkpoint_claim_size_and_keep(scenario: str, rendered: dict[str, Render]) -> None:
    values = merged_values(scenario)["training"]
    if values["persistence"]["existingClaim"]:
        return
    pvc = the(rendered[scenario].docs, "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == f"{FULLNAME}-training"
    assert pvc["spec"]["resources"]["requests"]["storage"] == values["persistence"]["size"]
    keep = pvc["metadata"].get("annotations", {}).get("helm.sh/resource-policy")
    assert keep == ("keep" if values["persistence"]["keep"] else None)


@pytest.mark.parametrize(
    ("scenario", "modes"),
    [("training", ["ReadWriteOnce"]), (DDP, ["ReadWriteMany"]), (GPU, ["ReadWriteOnce"])],
)
def test_claim_access_modes(scenario: str, modes: list[str], rendered: dict[str, Render]) -> None:
    """Default: ReadWriteOnce on one node (any class will do), ReadWriteMany on several
    (every node's pod mounts the claim, though only rank 0 writes); a value wins."""
    pvc = the(rendered[scenario].docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == modes
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert defaults["training"]["persistence"]["accessModes"] == []
    explicit = render_with(
        CI_VALUES[DDP], extra=("--set", "training.persistence.accessModes={ReadWriteOnce}")
    )
    assert the(explicit, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_without_a_repository_claim_the_export_stays_on_the_checkpoint_claim(
    rendered: dict[str, Render],
) -> None:
    pod = pod_of(job_of(rendered["training"]))
    c = container(pod)
    assert env(c)["TRAIN_EXPORT_REPOSITORY"] == f"{CHECKPOINTS}/models"
    assert "models" not in {v["name"] for v in pod["volumes"]}
    assert "MODEL_REPOSITORY" not in env(c)


def test_models_from_values_are_no_export_target() -> None:
    """A manifests ConfigMap is read-only: the export goes to the checkpoint claim."""
    docs = render_with(PRESET, CI_VALUES["06-manifests"])
    pod = pod_of(the(docs, "Job"))
    assert env(container(pod))["TRAIN_EXPORT_REPOSITORY"] == f"{CHECKPOINTS}/models"
    assert "models" not in {v["name"] for v in pod["volumes"]}


@pytest.mark.parametrize("scenario", [DDP, GPU])
def test_export_goes_into_the_model_repository_claim(
    scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    values = merged_values(scenario)
    repo = values["modelRepository"]
    pod = pod_of(job_of(render))
    c = container(pod)
    export = env(c)["TRAIN_EXPORT_REPOSITORY"]
    assert export == repo["mountPath"]
    mount = mounts(c)[export]
    assert not mount.get("readOnly", False), "training writes the next version"
    claim = volume(pod, mount["name"])["persistentVolumeClaim"]
    assert "readOnly" not in claim
    expected = repo["existingClaim"] if repo["type"] == "existingClaim" else f"{FULLNAME}-models"
    assert claim["claimName"] == expected
    if values["api"]["enabled"]:  # the API reads that claim at that path, read-only
        api_pod = render.one("Deployment")["spec"]["template"]["spec"]
        api_mount = next(
            m for m in api_pod["containers"][0]["volumeMounts"] if m["name"] == "models"
        )
        api_claim = next(v for v in api_pod["volumes"] if v["name"] == "models")
        assert api_claim["persistentVolumeClaim"]["claimName"] == claim["claimName"]
        assert api_mount["readOnly"] is True
        settings = next(
            m for m in render.of_kind("ConfigMap") if m["metadata"]["name"].endswith("-api")
        )
        assert settings["data"]["MODEL_REPOSITORY"] == export


# --- the container's environment -------------------------------------------------------------


@pytest.mark.parametrize("scenario", TRAINING_SCENARIOS)
def test_sized_tmp_shared_memory_and_extra_environment(
    scenario: str, rendered: dict[str, Render]
) -> None:
    values = merged_values(scenario)["training"]
    pod = pod_of(job_of(rendered[scenario]))
    c = container(pod)
    tmp = volume(pod, mounts(c)["/tmp"]["name"])  # noqa: S108
    assert tmp["emptyDir"] == {"sizeLimit": values["tmpSizeLimit"]}
    shm = volume(pod, mounts(c)["/dev/shm"]["name"])  # noqa: S108 - a memory emptyDir
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": values["shmSizeLimit"]}
    for item in values["extraEnv"]:
        assert item in c["env"]
    assert c.get("envFrom", []) == values["extraEnvFrom"]


@pytest.mark.parametrize(
    ("extra", "device"),
    [
        ((), "cpu"),
        (("--set", "training.gpu.enabled=true"), "cuda"),
        (("--set", "training.device=auto"), "auto"),
    ],
)
def test_device(extra: tuple[str, ...], device: str) -> None:
    c = container(pod_of(the(render_with(PRESET, extra=extra), "Job")))
    assert env(c)["TRAIN_DEVICE"] == device


# --- GPU -------------------------------------------------------------------------------------


def test_gpu_requests_equal_limits_and_scheduling_is_merged(rendered: dict[str, Render]) -> None:
    values = merged_values(GPU)["training"]
    pod = pod_of(job_of(rendered[GPU]))
    resources = container(pod)["resources"]
    count = values["gpu"]["count"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == count
    assert pod["nodeSelector"] == {**values["nodeSelector"], **values["gpu"]["nodeSelector"]}
    assert pod["tolerations"] == values["tolerations"] + values["gpu"]["tolerations"]
    assert pod["runtimeClassName"] == "nvidia"


def test_gpu_off_renders_no_gpu_settings(rendered: dict[str, Render]) -> None:
    pod = pod_of(job_of(rendered["training"]))
    assert "nvidia.com/gpu" not in repr(container(pod)["resources"])
    for key in ("nodeSelector", "tolerations", "runtimeClassName"):
        assert key not in pod, key


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_key_is_rendered_twice(scenario: str, rendered: dict[str, Render]) -> None:
    """PyYAML keeps the last of two equal keys; this loader refuses them, for every object of
    every scenario (upstream's chart renders nodeSelector and tolerations twice with a GPU)."""
    for document in rendered[scenario].text.split("\n---\n"):
        yaml.load(document, Loader=_CountingLoader)  # noqa: S506 - a SafeLoader subclass


def test_gpu_scheduling_keys_appear_once_in_the_text(rendered: dict[str, Render]) -> None:
    [job] = job_texts(rendered[GPU].text)
    for key in ("nodeSelector", "tolerations", "runtimeClassName", "resources"):
        assert len(re.findall(rf"^\s+{key}:", job, re.MULTILINE)) == 1, key
    assert len(re.findall(r"^\s+nvidia\.com/gpu: 2$", job, re.MULTILINE)) == 2  # request, limit
    assert len(re.findall(r"^\s+nvidia\.com/gpu\.present: \"true\"$", job, re.MULTILINE)) == 1


def test_the_duplicate_key_check_can_fail() -> None:
    with pytest.raises(AssertionError, match="nodeSelector"):
        yaml.load("spec:\n  nodeSelector: {}\n  nodeSelector: {}\n", Loader=_CountingLoader)  # noqa: S506


# --- security, network ------------------------------------------------------------------------


def _policies(render: Render) -> Doc:
    policies = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in render.of_kind("NetworkPolicy")
    }
    spec: Doc = policies["training"]["spec"]
    return spec


def test_single_node_network_policy_lets_nothing_in(rendered: dict[str, Render]) -> None:
    render = rendered["training"]
    policy = _policies(render)
    labels = job_of(render)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy
    assert policy["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    ]


def test_ddp_network_policy_connects_the_training_pods(rendered: dict[str, Render]) -> None:
    render = rendered[DDP]
    policy = _policies(render)
    labels = job_of(render)["spec"]["template"]["metadata"]["labels"]
    selector = policy["podSelector"]["matchLabels"]
    peer = [{"podSelector": {"matchLabels": selector}}]
    assert policy["ingress"] == [{"from": peer, "ports": [{"protocol": "TCP"}]}]
    assert policy["egress"][0] == {"to": peer, "ports": [{"protocol": "TCP"}]}
    assert selector.items() <= labels.items(), "the pods reach each other"
    dns = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    assert policy["egress"][1] == dns
    extra = merged_values(DDP)["training"]["networkPolicy"]["extraEgress"]
    assert policy["egress"][2:] == extra


# --- switches, names, upgrades ---------------------------------------------------------------


def test_long_names_fit_kubernetes_limits() -> None:
    docs = render_with(
        PRESET, extra=("--set", "fullnameOverride=" + "y" * 63, "--set", "training.nodes=4")
    )
    job, service = the(docs, "Job"), the(docs, "Service")
    assert len(job["metadata"]["name"]) <= 59, "room for -<index> in a 63-character hostname"
    assert len(service["metadata"]["name"]) <= 63
    address = env(container(pod_of(job)))["PET_MASTER_ADDR"]
    assert all(0 < len(label) <= 63 for label in address.split("."))
    assert address == f"{job['metadata']['name']}-0.{service['metadata']['name']}"


# --- NOTES ---------------------------------------------------------------------------------------


def test_notes_of_the_preset() -> None:
    text = notes(PRESET)
    assert f"`dimtensor-train run {CONFIG_FILE}`" in text
    assert f"TRAIN_CHECKPOINT_DIR={CHECKPOINTS}/{FULLNAME}" in text
    assert f"TRAIN_EXPORT_REPOSITORY={CHECKPOINTS}/models" in text
    assert f"--set modelRepository.existingClaim={FULLNAME}-training" in text
    assert '"MODEL_REPOSITORY","value":"/models/models"' in text


def test_notes_of_ddp_and_gpu(rendered: dict[str, Render]) -> None:
    text = notes(CI_VALUES[DDP])
    name = job_of(rendered[DDP])["metadata"]["name"]
    assert f"{name}-0.{FULLNAME}-training:{PORT}" in text
    assert "-L batch.kubernetes.io/job-completion-index" in text
    assert "TRAIN_EXPORT_REPOSITORY=/models" in text
    text = notes(CI_VALUES[GPU])
    assert f"kubectl -n {NAMESPACE} rollout restart deployment/{FULLNAME}-api" in text
    assert "TRAIN_DEVICE=cuda" in text


def test_notes_warn_about_lost_checkpoints_and_single_node_claims() -> None:
    text = notes(PRESET, "--set", "training.persistence.enabled=false")
    assert "WARNING: training.persistence.enabled is false" in text
    text = notes(CI_VALUES[DDP], "--set", "training.persistence.accessModes={ReadWriteOnce}")
    assert "WARNING: training.nodes is 2 but the checkpoint claim is not ReadWriteMany" in text
    text = notes(PRESET, "--set", "api.enabled=true", "--set", "modelRepository.type=pvc")
    assert f"WARNING: the model repository claim {FULLNAME}-models is not ReadWriteMany" in text
