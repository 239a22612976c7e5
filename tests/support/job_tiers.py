"""The chart's job tiers, batch and training, as rows of one table: what each tier's values
block, Job, pod and container are called, the CLI its pods run, and the exit-code table its
``podFailurePolicy`` must follow. tests/deploy/test_jobs.py runs the checks both tiers share
over these rows; test_batch.py and test_training.py hold each tier's own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jobkit.exits import Command
from tests.support.chart import CHART, RELEASE, SCENARIOS, merged_values
from tests.support.jobs import BATCH, TRAINING, Job
from tests.support.k8s import Doc

FULLNAME = f"{RELEASE}-dimtensor"

# A pod evicted, preempted or drained is not the job's failure: ignored, before any exit code.
DISRUPTION_RULE: Doc = {
    "action": "Ignore",
    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
}


def expected_failure_rules(
    container: str, exit_codes: Mapping[int, tuple[str, str | None]]
) -> list[Doc]:
    """A job tier's podFailurePolicy rules: disruptions ignored first, then one rule per
    exit code that has an action, in the table's order."""
    return [DISRUPTION_RULE] + [
        {
            "action": action,
            "onExitCodes": {"containerName": container, "operator": "In", "values": [code]},
        }
        for code, (_, action) in exit_codes.items()
        if action is not None
    ]


@dataclass(frozen=True)
class JobTier:
    """One job tier. `name` is its values block, its objects' component label and name
    suffix, and its container's name."""

    name: str
    preset: Path
    ci_scenarios: tuple[str, ...]
    # values file of deploy/examples -> the raw manifests the chart renders from it
    example_sets: dict[str, tuple[str, ...]]
    cli: Job
    # the CLI's exit codes (ExitCode by name) and the podFailurePolicy action each one maps to,
    # in the order of the rules; None: no rule (0 ends the pod well; 1, a crash, counts
    # against the Job's backoff limit)
    exit_codes: dict[int, tuple[str, str | None]]
    rule_order: tuple[int, ...]  # the exit codes of the rules after DisruptionTarget, in order
    command: Command  # the CLI's name in jobkit's exit table
    not_from_pods: frozenset[str]  # codes of the CLI that a pod of the Job never ends with
    config_file: str
    claim_mount: str  # the claim the tier writes to
    claim_volume: str  # its volume
    claim_variable: str  # the folder under the claim that the tier writes, as an env variable
    claim_path_value: str  # the value naming that folder (the release's fullname if null)
    path_variables: tuple[str, ...]  # variables holding paths that the CLI writes to
    copied_variables: tuple[str, ...]  # variables `validate` reads as the pod has them
    validate_env: dict[str, str]  # variables `validate` reads on this machine instead
    renaming: tuple[str, ...]  # settings whose change renames the Job (with image, resources)

    @property
    def scenarios(self) -> list[str]:
        """The scenarios that enable the tier."""
        return sorted(s for s in SCENARIOS if merged_values(s)[self.name]["enabled"])

    @property
    def examples(self) -> list[str]:
        """The raw manifests of deploy/examples that run the tier."""
        return [name for names in self.example_sets.values() for name in names]

    @property
    def expected_rules(self) -> list[Doc]:
        return expected_failure_rules(self.name, self.exit_codes)

    def docs(self, docs: list[Doc]) -> list[Doc]:
        """The tier's objects of a render or a raw manifest."""
        label = "app.kubernetes.io/component"
        return [d for d in docs if d["metadata"]["labels"][label] == self.name]

    def the(self, docs: list[Doc], kind: str) -> Doc:
        """The tier's one object of `kind`."""
        found = [d for d in self.docs(docs) if d["kind"] == kind]
        assert len(found) == 1, f"{len(found)} {self.name} {kind}"
        return found[0]

    def job(self, docs: list[Doc]) -> Doc:
        """The tier's one Job, or its CronJob's jobTemplate."""
        mine = self.docs(docs)
        jobs = [d for d in mine if d["kind"] == "Job"]
        jobs += [c["spec"]["jobTemplate"] for c in mine if c["kind"] == "CronJob"]
        assert len(jobs) == 1, f"{len(jobs)} {self.name} jobs"
        return jobs[0]

    def pod(self, docs: list[Doc]) -> Doc:
        """The pod spec of the tier's Job."""
        spec: Doc = self.job(docs)["spec"]["template"]["spec"]
        return spec

    def container(self, pod: Doc) -> Doc:
        """The one container of a pod of the tier, named after it."""
        c = only_container(pod)
        assert c["name"] == self.name
        return c


def only_container(pod: Doc) -> Doc:
    """The one container of a pod spec."""
    assert len(pod["containers"]) == 1
    c: Doc = pod["containers"][0]
    return c


BATCH_TIER = JobTier(
    name="batch",
    preset=CHART / "values-batch.yaml",
    ci_scenarios=("09-batch", "10-batch-cronjob"),
    example_sets={"values-examples-batch.yaml": ("batch-job.yaml",)},
    cli=BATCH,
    exit_codes={
        2: ("CONFIG", "FailJob"),  # refused before any work: every index would fail alike
        3: ("INPUT", "FailIndex"),  # bad rows in this shard: a retry cannot help
        75: ("INTERRUPTED", "Ignore"),  # SIGTERM at a row-group boundary: the replacement resumes
        1: ("CRASH", None),  # retried, up to backoffLimitPerIndex
        0: ("OK", None),  # done
    },
    rule_order=(2, 3, 75),
    command="batch",
    not_from_pods=frozenset({"INCOMPLETE"}),  # `merge` refused: merge is not run by the Job
    config_file="/etc/dimtensor-batch/config.yaml",
    claim_mount="/data",
    claim_volume="data",
    claim_variable="BATCH_OUTPUT",
    claim_path_value="outputPath",
    path_variables=("BATCH_OUTPUT",),
    copied_variables=("BATCH_SHARDS",),
    validate_env={},
    renaming=("batch.config.model=pendulum",),
)

# Under torchrun `launch` turns a signalled stop (torchrun's own 1) into 75; the
# DisruptionTarget rule, first, covers preemption anyway.
TRAINING_TIER = JobTier(
    name="training",
    preset=CHART / "values-training.yaml",
    ci_scenarios=("11-training-ddp", "12-training-gpu"),
    example_sets={
        "values-examples-training.yaml": ("training-job.yaml",),
        "values-examples-training-ddp.yaml": ("training-ddp.yaml",),
    },
    cli=TRAINING,
    exit_codes={
        2: ("CONFIG", "FailJob"),  # refused before the first step: a retry fails alike
        75: ("INTERRUPTED", "Ignore"),  # SIGTERM, checkpoint saved: the replacement resumes
        1: ("CRASH", None),  # retried, up to backoffLimit failed pods in all
        0: ("OK", None),  # done
    },
    rule_order=(2, 75),
    command="train",
    not_from_pods=frozenset(),
    config_file="/etc/dimtensor-train/config.yaml",
    claim_mount="/checkpoints",
    claim_volume="checkpoints",
    claim_variable="TRAIN_CHECKPOINT_DIR",
    claim_path_value="checkpointPath",
    path_variables=("TRAIN_CHECKPOINT_DIR", "TRAIN_EXPORT_REPOSITORY"),
    copied_variables=(),
    validate_env={"TRAIN_DEVICE": "cpu"},  # a GPU scenario, validated on this machine
    renaming=("training.config.steps=100", "training.nodes=2"),
)

JOB_TIERS = (BATCH_TIER, TRAINING_TIER)
