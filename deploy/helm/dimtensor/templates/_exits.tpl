{{/* Generated from jobkit/exits.py by `python -m jobkit.exits write`; do not edit (tests/jobkit/test_exit_files.py). */}}

{{/* The batch Job's podFailurePolicy: the rules the exit table gives `dimtensor-batch` (the first match wins; other codes are counted). */}}
{{- define "dimtensor.batch.podFailurePolicy" -}}
rules:
  - action: Ignore
    onPodConditions:
      - type: DisruptionTarget
        status: "True"
  - action: FailJob
    onExitCodes:
      containerName: batch
      operator: In
      values: [2]
  - action: FailIndex
    onExitCodes:
      containerName: batch
      operator: In
      values: [3]
  - action: Ignore
    onExitCodes:
      containerName: batch
      operator: In
      values: [75]
{{- end -}}

{{/* The training Job's podFailurePolicy: the rules the exit table gives `dimtensor-train` (the first match wins; other codes are counted). */}}
{{- define "dimtensor.training.podFailurePolicy" -}}
rules:
  - action: Ignore
    onPodConditions:
      - type: DisruptionTarget
        status: "True"
  - action: FailJob
    onExitCodes:
      containerName: training
      operator: In
      values: [2]
  - action: Ignore
    onExitCodes:
      containerName: training
      operator: In
      values: [75]
{{- end -}}
