"""What the chart's two job tiers, batch and training, promise alike, checked over the table of
tiers (tests/support/job_tiers.py): a Job whose podFailurePolicy follows its CLI's exit codes,
its config mounted read-only from its ConfigMap, its writes on its claim, the API pods'
security, a NetworkPolicy of its own, a name that changes with its spec only, nothing rendered
when it is off, NOTES to watch it, and configs its CLI's `validate` accepts.

What only one tier does is checked in test_batch.py and test_training.py. Strict validation
for every Kubernetes version runs in test_validate.py (the presets and the ci files of both
tiers are scenarios there), checkov, lint and the cross-reference checks likewise.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from jobkit.exits import ExitCode, rows_for
from tests.support.chart import (
    EXAMPLE_SETS,
    EXAMPLES,
    NAMESPACE,
    PRESETS,
    RELEASE,
    SCENARIOS,
    Render,
    helm_template,
    merged_values,
    notes,
    render_with,
    scenario_values,
)
from tests.support.job_tiers import BATCH_TIER, FULLNAME, JOB_TIERS, TRAINING_TIER, JobTier
from tests.support.k8s import Doc, env, load_docs, mounts, volume

TIERS = pytest.mark.parametrize("tier", JOB_TIERS, ids=lambda t: t.name)
TIER_SCENARIOS = pytest.mark.parametrize(
    ("tier", "scenario"),
    [(t, s) for t in JOB_TIERS for s in t.scenarios],
    ids=lambda x: x.name if isinstance(x, JobTier) else x,
)
TIER_EXAMPLES = pytest.mark.parametrize(
    ("tier", "example"),
    [(t, e) for t in JOB_TIERS for e in t.examples],
    ids=lambda x: x.name if isinstance(x, JobTier) else x,
)


def example_docs(name: str) -> list[Doc]:
    return load_docs((EXAMPLES / name).read_text(encoding="utf-8"))


# --- the scenarios -----------------------------------------------------------------------------


@TIERS
def test_the_tiers_scenarios_are_rendered_validated_and_linted(tier: JobTier) -> None:
    """The preset and the CI files go through conftest's renders for every Kubernetes
    version, so test_validate/test_lint/test_checkov/test_crossref cover the tier's objects;
    the raw examples are compared with their renders by test_examples."""
    assert PRESETS[tier.name] == tier.preset
    assert {tier.name, *tier.ci_scenarios} <= set(tier.scenarios)
    assert set(tier.scenarios) <= set(SCENARIOS)
    for values, names in tier.example_sets.items():
        assert EXAMPLE_SETS[values] == names, values


# --- the Job -----------------------------------------------------------------------------------


@TIER_SCENARIOS
def test_pod_failure_policy_follows_the_exit_code_table(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    spec = tier.job(rendered[scenario].docs)["spec"]
    assert spec["podFailurePolicy"]["rules"] == tier.expected_rules
    assert tier.container(spec["template"]["spec"])["name"] == tier.name
    codes = [r["onExitCodes"]["values"][0] for r in spec["podFailurePolicy"]["rules"][1:]]
    assert codes == list(tier.rule_order), "DisruptionTarget first, then the codes in order"
    assert 1 not in codes, "a crash is retried: it must not match a rule"


@TIER_EXAMPLES
def test_raw_examples_follow_the_exit_code_table(tier: JobTier, example: str) -> None:
    job = tier.the(example_docs(example), "Job")
    assert job["spec"]["podFailurePolicy"]["rules"] == tier.expected_rules
    assert job["metadata"]["namespace"] == NAMESPACE


@TIERS
def test_the_exit_code_table_is_the_clis(tier: JobTier) -> None:
    """The table names the CLI's ExitCode members by the numbers the CLI exits with, every code
    a pod of the Job can end with has a row, and each rule's action is the one the project's
    exit table gives the code."""
    assert {code: ExitCode[name].value for code, (name, _) in tier.exit_codes.items()} == {
        code: code for code in tier.exit_codes
    }
    rows = {row.code: row for row in rows_for(tier.command)}
    pod_codes = {code for code in rows if code.name not in tier.not_from_pods}
    assert {ExitCode(code) for code in tier.exit_codes} == pod_codes
    for code, (_, action) in tier.exit_codes.items():
        assert rows[ExitCode(code)].action == action, code


@TIER_SCENARIOS
def test_retries_grace_and_limits_follow_the_values(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    values = merged_values(scenario)[tier.name]
    spec = tier.job(rendered[scenario].docs)["spec"]
    assert spec["podReplacementPolicy"] == "Failed"
    for key in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        assert spec.get(key) == values[key], key
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == values["terminationGracePeriodSeconds"]
    assert "selector" not in spec, "the Job controller makes its own selector"


@pytest.mark.parametrize(
    ("tier", "scenario", "absent"),
    [
        (BATCH_TIER, "10-batch-cronjob", ("activeDeadlineSeconds", "ttlSecondsAfterFinished")),
        (TRAINING_TIER, "11-training-ddp", ("ttlSecondsAfterFinished",)),
    ],
    ids=["batch", "training"],
)
def test_null_limits_are_left_out(
    tier: JobTier, scenario: str, absent: tuple[str, ...], rendered: dict[str, Render]
) -> None:
    spec = tier.job(rendered[scenario].docs)["spec"]
    for key in absent:
        assert key not in spec, key


# --- config, claim, environment ----------------------------------------------------------------


@TIER_SCENARIOS
def test_config_is_mounted_read_only_from_the_tiers_configmap(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    pod = tier.pod(render.docs)
    c = tier.container(pod)
    assert c["args"][-1] == tier.config_file
    directory, filename = tier.config_file.rsplit("/", 1)
    mount = mounts(c)[directory]
    assert mount["readOnly"] is True
    source = volume(pod, mount["name"])["configMap"]
    configmap = tier.the(render.docs, "ConfigMap")
    assert source["name"] == configmap["metadata"]["name"] == f"{FULLNAME}-{tier.name}"
    assert source["items"] == [{"key": filename, "path": filename}]
    config = yaml.safe_load(configmap["data"][filename])
    assert config == merged_values(scenario)[tier.name]["config"]


@TIER_SCENARIOS
def test_the_tier_writes_into_its_own_folder_on_its_claim(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    values = merged_values(scenario)[tier.name]
    pod = tier.pod(render.docs)
    c = tier.container(pod)
    mount = mounts(c)[tier.claim_mount]
    assert not mount.get("readOnly", False)
    folder = env(c)[tier.claim_variable]
    assert folder == f"{tier.claim_mount}/{values[tier.claim_path_value] or FULLNAME}"
    assert ".." not in folder.split("/")
    claim = volume(pod, mount["name"])["persistentVolumeClaim"]["claimName"]
    existing = values["persistence"]["existingClaim"]
    assert claim == (existing or f"{FULLNAME}-{tier.name}")
    if not existing:
        assert claim in render.names("PersistentVolumeClaim")


@TIERS
def test_without_persistence_the_claim_is_an_emptydir(tier: JobTier) -> None:
    docs = render_with(tier.preset, extra=("--set", f"{tier.name}.persistence.enabled=false"))
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert volume(tier.pod(docs), tier.claim_volume) == {"name": tier.claim_volume, "emptyDir": {}}


@TIER_SCENARIOS
def test_home_threads_and_a_writable_tmp(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    values = merged_values(scenario)[tier.name]
    pod = tier.pod(rendered[scenario].docs)
    c = tier.container(pod)
    variables = env(c)
    assert variables["HOME"] == "/tmp"  # noqa: S108 - an emptyDir, as below
    assert variables["TORCH_THREADS"] == variables["OMP_NUM_THREADS"] == str(values["torchThreads"])
    assert "emptyDir" in volume(pod, mounts(c)["/tmp"]["name"])  # noqa: S108


# --- security, network --------------------------------------------------------------------------


@TIER_SCENARIOS
def test_pod_security_is_the_api_pods(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    api_pod = rendered["default"].one("Deployment")["spec"]["template"]["spec"]
    pod = tier.pod(rendered[scenario].docs)
    assert pod["securityContext"] == api_pod["securityContext"]
    assert tier.container(pod)["securityContext"] == api_pod["containers"][0]["securityContext"]
    for key in ("automountServiceAccountToken", "enableServiceLinks"):
        assert pod[key] is False, key
    values = merged_values(scenario)[tier.name]
    assert pod["serviceAccountName"] == (values["serviceAccountName"] or "default")


@TIER_SCENARIOS
def test_network_policy_selects_only_the_tiers_pods(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    render = rendered[scenario]
    policy = tier.the(render.docs, "NetworkPolicy")["spec"]
    selector = policy["podSelector"]["matchLabels"]
    assert (
        selector.items() <= tier.job(render.docs)["spec"]["template"]["metadata"]["labels"].items()
    )
    for deployment in render.of_kind("Deployment"):
        api_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= api_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]


# --- switches, names -----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_job_belongs_to_a_tier_the_scenario_enables(
    scenario: str, rendered: dict[str, Render]
) -> None:
    values = merged_values(scenario)
    for doc in rendered[scenario].docs:
        if doc["kind"] in {"Job", "CronJob"}:
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            assert component in {t.name for t in JOB_TIERS}, scenario
            assert values[component]["enabled"], scenario


@pytest.mark.parametrize(
    ("tier", "scenario"),
    [(t, s) for t in JOB_TIERS for s in sorted(set(SCENARIOS) - set(t.scenarios))],
    ids=lambda x: x.name if isinstance(x, JobTier) else x,
)
def test_a_disabled_tier_renders_nothing(
    tier: JobTier, scenario: str, rendered: dict[str, Render]
) -> None:
    assert tier.docs(rendered[scenario].docs) == [], scenario
    assert tier.cli.script not in rendered[scenario].text


@TIER_SCENARIOS
def test_tier_values_without_the_tier_enabled_change_nothing(
    tier: JobTier, scenario: str, tmp_path: Path
) -> None:
    """A scenario's tier block with `enabled: false` renders byte for byte what the scenario
    renders without any such block: no value of the tier leaks into the other objects."""
    values = scenario_values(SCENARIOS[scenario])
    without, off = tmp_path / "without.yaml", tmp_path / "off.yaml"
    without.write_text(yaml.safe_dump({k: v for k, v in values.items() if k != tier.name}))
    off.write_text(yaml.safe_dump({**values, tier.name: {**values[tier.name], "enabled": False}}))
    expected, got = helm_template([without]), helm_template([off])
    assert expected.returncode == 0, expected.stderr
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected.stdout


@TIERS
def test_job_name_changes_with_the_job_spec_only(tier: JobTier) -> None:
    """A tier's Job is named ``<release>-dimtensor-<tier>-<8 hex of its spec>``: stable
    across renders and other tiers' values, new with every setting of its spec (and the image
    and resources), so `helm upgrade` replaces an immutable Job instead of failing."""

    def job_name(*extra: str) -> str:
        name: str = tier.the(render_with(tier.preset, extra=extra), "Job")["metadata"]["name"]
        return name

    name = job_name()
    assert re.fullmatch(rf"{RELEASE}-dimtensor-{tier.name}-[0-9a-f]{{8}}", name), name
    assert job_name() == name, "the name is stable across renders"
    assert job_name("--set", "api.enabled=true", "--set", "api.replicaCount=5") == name
    for setting in (*tier.renaming, "image.tag=0.2.0", f"{tier.name}.resources.limits.memory=3Gi"):
        assert job_name("--set", setting) != name, setting
    long = job_name("--set", "fullnameOverride=" + "x" * 63)
    assert len(long) <= 59, "room for -<index> in a 63-character hostname"


# --- NOTES, validate ------------------------------------------------------------------------------


@TIERS
def test_notes_watch_the_job(tier: JobTier, rendered: dict[str, Render]) -> None:
    text = notes(tier.preset)
    name = tier.the(rendered[tier.name].docs, "Job")["metadata"]["name"]
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={tier.name}"
    assert f"kubectl -n {NAMESPACE} wait --for=condition=Complete job/{name}" in text
    assert f"kubectl -n {NAMESPACE} get job -l {selector}" in text
    assert f"kubectl -n {NAMESPACE} logs -l {selector} --prefix" in text
    assert "WARNING" not in text
    assert "curl" not in text, "the preset has no API tier"


@TIERS
def test_every_deployed_config_passes_the_clis_validate(
    tier: JobTier,
    rendered: dict[str, Render],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the chart and the raw examples mount is a config the tier's `validate` accepts,
    with the pod's own environment (the paths it writes to mapped into a temporary folder, the
    embedded models standing in for a mounted repository)."""
    for name in ("MODEL_REPOSITORY", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    sources = [(s, rendered[s].docs) for s in tier.scenarios]
    sources += [(e, example_docs(e)) for e in tier.examples]
    for where, docs in sources:
        config = yaml.safe_load(tier.the(docs, "ConfigMap")["data"]["config.yaml"])
        variables = env(tier.container(tier.pod(docs)))
        for name in tier.copied_variables:
            monkeypatch.setenv(name, variables[name])
        assert variables[tier.claim_variable].startswith(tier.claim_mount + "/"), where
        for name in tier.path_variables:
            monkeypatch.setenv(name, str(tmp_path / where / variables[name].lstrip("/")))
        for name, value in tier.validate_env.items():
            monkeypatch.setenv(name, value)
        path = tmp_path / f"{where}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        assert tier.cli.cli("validate", path) == 0, where
    assert len(sources) == len(tier.scenarios) + len(tier.examples)
