{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "dimtensor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "dimtensor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the API tier's resources. */}}
{{- define "dimtensor.api.fullname" -}}
{{- printf "%s-api" (include "dimtensor.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* chart label value: <name>-<version>. */}}
{{- define "dimtensor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for a release: used in selectors. */}}
{{- define "dimtensor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dimtensor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Standard labels of every resource (app.kubernetes.io/*, helm.sh/chart, commonLabels). */}}
{{- define "dimtensor.labels" -}}
{{ include "dimtensor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: dimtensor
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "dimtensor.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of the API tier. */}}
{{- define "dimtensor.api.selectorLabels" -}}
{{ include "dimtensor.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end -}}

{{/* Labels of the API tier's resources. */}}
{{- define "dimtensor.api.labels" -}}
{{ include "dimtensor.labels" . }}
app.kubernetes.io/component: api
{{- end -}}

{{/* metadata.annotations block with commonAnnotations merged into the given dict; empty when both are empty. Call with (dict "annotations" X "context" $). */}}
{{- define "dimtensor.annotations" -}}
{{- $all := merge (deepCopy (default dict .annotations)) (default dict .context.Values.commonAnnotations) -}}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* The one image reference every workload uses: registry/repository@digest, else :tag (default appVersion). */}}
{{- define "dimtensor.image" -}}
{{- $img := .Values.image -}}
{{- $repo := $img.repository -}}
{{- if $img.registry -}}
{{- $repo = printf "%s/%s" $img.registry $img.repository -}}
{{- end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block from a list of Secret names. */}}
{{- define "dimtensor.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Pod-level security context: Pod Security Standard "restricted". */}}
{{- define "dimtensor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
fsGroup: {{ .Values.security.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: Pod Security Standard "restricted". */}}
{{- define "dimtensor.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* ServiceAccount name of the API pods. */}}
{{- define "dimtensor.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create -}}
{{- default (include "dimtensor.api.fullname" .) .Values.api.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.api.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the API keys file, and the key of that file inside it. */}}
{{- define "dimtensor.api.authSecretName" -}}
{{- default (printf "%s-auth" (include "dimtensor.api.fullname" .)) .Values.api.auth.existingSecret -}}
{{- end -}}
{{- define "dimtensor.api.authSecretKey" -}}
{{- if .Values.api.auth.existingSecret -}}{{ .Values.api.auth.existingSecretKey }}{{- else -}}api-keys{{- end -}}
{{- end -}}

{{/* Directory the API keys file is mounted in, and the file itself (API_KEYS_FILE). */}}
{{- define "dimtensor.authDir" -}}/etc/dimtensor/auth{{- end -}}
{{- define "dimtensor.apiKeysFile" -}}{{ include "dimtensor.authDir" . }}/api-keys{{- end -}}

{{/* Name of the model repository claim, empty when models are not on a claim. */}}
{{- define "dimtensor.modelClaimName" -}}
{{- $repo := .Values.modelRepository -}}
{{- if eq $repo.type "pvc" -}}
{{- printf "%s-models" (include "dimtensor.fullname" .) -}}
{{- else if eq $repo.type "existingClaim" -}}
{{- $repo.existingClaim -}}
{{- end -}}
{{- end -}}

{{/* "true" when the server gets a MODEL_REPOSITORY (a claim, or manifests from values). */}}
{{- define "dimtensor.modelRepositoryMounted" -}}
{{- if or (ne .Values.modelRepository.type "image") .Values.modelRepository.manifests -}}true{{- end -}}
{{- end -}}

{{/* The "models" volume of every pod that reads the model repository (read-only claim, or the manifests ConfigMap); empty when models come from the image. */}}
{{- define "dimtensor.modelsVolume" -}}
{{- $repo := .Values.modelRepository -}}
{{- if ne $repo.type "image" -}}
- name: models
  persistentVolumeClaim:
    claimName: {{ include "dimtensor.modelClaimName" . }}
    readOnly: true
{{- else if $repo.manifests -}}
- name: models
  configMap:
    name: {{ include "dimtensor.fullname" . }}-models
    items:
      {{- range $repo.manifests }}
      - key: {{ include "dimtensor.manifestKey" . }}
        path: {{ printf "%s/%v/model.yaml" .name .version }}
      {{- end }}
{{- end -}}
{{- end -}}

{{/* Its read-only mount at modelRepository.mountPath; empty when there is no volume. */}}
{{- define "dimtensor.modelsVolumeMount" -}}
{{- if include "dimtensor.modelRepositoryMounted" . -}}
- name: models
  mountPath: {{ .Values.modelRepository.mountPath }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* ConfigMap key of one model manifest: <name>_<version>.yaml (ConfigMap keys cannot hold "/"). */}}
{{- define "dimtensor.manifestKey" -}}
{{- printf "%s_%s.yaml" .name (toString .version) -}}
{{- end -}}

{{/* Grace period: preStop sleep + GRACEFUL_TIMEOUT + 10 s unless set. */}}
{{- define "dimtensor.api.terminationGracePeriodSeconds" -}}
{{- $api := .Values.api -}}
{{- if kindIs "invalid" $api.terminationGracePeriodSeconds -}}
{{- add $api.preStopSleepSeconds $api.config.gracefulTimeout 10 -}}
{{- else -}}
{{- $api.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Fewest API pods the release asks for (HPA minimum or replicaCount). */}}
{{- define "dimtensor.api.minReplicas" -}}
{{- if .Values.api.autoscaling.enabled -}}{{ .Values.api.autoscaling.minReplicas }}{{- else -}}{{ .Values.api.replicaCount }}{{- end -}}
{{- end -}}

{{/* Name of the batch tier's ConfigMap, claim and CronJob: <fullname>-batch, at most 52 characters (a CronJob's limit). */}}
{{- define "dimtensor.batch.fullname" -}}
{{- printf "%s-batch" (include "dimtensor.fullname" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a one-off Job: <base>-<first 8 hex of the sha256 of its spec>. A Job's pod template is immutable, so any change to it gives a new name: helm upgrade then creates the new Job and deletes the old one instead of failing. At most 59 characters, leaving room for "-<index>" in an Indexed Job's pod hostnames. Call with (dict "base" NAME "spec" TEXT). */}}
{{- define "dimtensor.hashedJobName" -}}
{{- printf "%s-%s" (.base | trunc 50 | trimSuffix "-") (.spec | sha256sum | trunc 8) -}}
{{- end -}}

{{/* Name of the batch tier's one-off Job: <fullname>-batch-<hash of the job spec>. */}}
{{- define "dimtensor.batch.jobName" -}}
{{- include "dimtensor.hashedJobName" (dict "base" (include "dimtensor.batch.fullname" .) "spec" (include "dimtensor.batch.jobSpec" .)) -}}
{{- end -}}

{{/* Selector labels of the batch pods (the NetworkPolicy's podSelector). */}}
{{- define "dimtensor.batch.selectorLabels" -}}
{{ include "dimtensor.selectorLabels" . }}
app.kubernetes.io/component: batch
{{- end -}}

{{/* Labels of the batch tier's resources. */}}
{{- define "dimtensor.batch.labels" -}}
{{ include "dimtensor.labels" . }}
app.kubernetes.io/component: batch
{{- end -}}

{{/* Claim holding the batch output: existingClaim, else <fullname>-batch. */}}
{{- define "dimtensor.batch.claimName" -}}
{{- default (include "dimtensor.batch.fullname" .) .Values.batch.persistence.existingClaim -}}
{{- end -}}

{{/* Where the output claim is mounted, and the job's output folder on it (BATCH_OUTPUT). */}}
{{- define "dimtensor.batch.dataDir" -}}/data{{- end -}}
{{- define "dimtensor.batch.outputDir" -}}
{{- printf "%s/%s" (include "dimtensor.batch.dataDir" .) (default (include "dimtensor.fullname" .) .Values.batch.outputPath) -}}
{{- end -}}

{{/* Directory the batch config is mounted in, and the file the CLI is given. */}}
{{- define "dimtensor.batch.configDir" -}}/etc/dimtensor-batch{{- end -}}
{{- define "dimtensor.batch.configFile" -}}{{ include "dimtensor.batch.configDir" . }}/config.yaml{{- end -}}

{{/* The config file's text: the ConfigMap's config.yaml and the source of checksum/config. */}}
{{- define "dimtensor.batch.configYaml" -}}
{{- toYaml .Values.batch.config -}}
{{- end -}}

{{/* maxFailedIndexes: the value, or every shard when null. */}}
{{- define "dimtensor.batch.maxFailedIndexes" -}}
{{- if kindIs "invalid" .Values.batch.maxFailedIndexes -}}{{ .Values.batch.shards }}{{- else -}}{{ .Values.batch.maxFailedIndexes }}{{- end -}}
{{- end -}}

{{/* Pod spec of the batch pods (Job, CronJob, and the merge pod in NOTES.txt): the API pods' security, the same image and model repository, the config read-only at configFile, the output claim at /data. */}}
{{- define "dimtensor.batch.podSpec" -}}
{{- $b := .Values.batch -}}
restartPolicy: Never
serviceAccountName: {{ default "default" $b.serviceAccountName }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with include "dimtensor.imagePullSecrets" . }}
{{ . }}
{{- end }}
{{- with $b.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $b.terminationGracePeriodSeconds }}
securityContext:
  {{- include "dimtensor.podSecurityContext" . | nindent 2 }}
{{- with $b.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $b.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $b.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: batch
    image: {{ include "dimtensor.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["batch", "run", {{ include "dimtensor.batch.configFile" . | quote }}]  # the image's entrypoint: dimtensor
    env:
      - name: BATCH_SHARDS
        value: {{ $b.shards | quote }}
      - name: BATCH_OUTPUT
        value: {{ include "dimtensor.batch.outputDir" . | quote }}
      - name: HOME
        value: /tmp
      - name: TORCH_THREADS
        value: {{ $b.torchThreads | quote }}
      - name: OMP_NUM_THREADS
        value: {{ $b.torchThreads | quote }}
      - name: DOMAIN_POLICY
        value: {{ .Values.api.config.domainPolicy | quote }}
      {{- if include "dimtensor.modelRepositoryMounted" . }}
      - name: MODEL_REPOSITORY
        value: {{ .Values.modelRepository.mountPath | quote }}
      {{- end }}
      - name: MODEL_REPOSITORY_TRUSTED
        value: {{ .Values.modelRepository.trusted | quote }}
    securityContext:
      {{- include "dimtensor.containerSecurityContext" . | nindent 6 }}
    {{- with $b.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: {{ include "dimtensor.batch.configDir" . }}
        readOnly: true
      - name: data
        mountPath: {{ include "dimtensor.batch.dataDir" . }}
      - name: tmp
        mountPath: /tmp
      {{- with include "dimtensor.modelsVolumeMount" . }}
      {{- . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "dimtensor.batch.fullname" . }}
      items:
        - key: config.yaml
          path: config.yaml
  - name: data
    {{- if $b.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ include "dimtensor.batch.claimName" . }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $b.tmpSizeLimit }}
  {{- with include "dimtensor.modelsVolume" . }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Spec of the batch Job, shared by the one-off Job and the CronJob's jobTemplate: an Indexed Job, one index per shard, whose podFailurePolicy follows the exit table (jobkit/exits.py, rendered into _exits.tpl). */}}
{{- define "dimtensor.batch.jobSpec" -}}
{{- $b := .Values.batch -}}
completionMode: Indexed
completions: {{ $b.shards }}
parallelism: {{ $b.parallelism }}
backoffLimitPerIndex: {{ $b.backoffLimitPerIndex }}
maxFailedIndexes: {{ include "dimtensor.batch.maxFailedIndexes" . }}
podReplacementPolicy: Failed
{{- if not (kindIs "invalid" $b.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ $b.activeDeadlineSeconds }}
{{- end }}
{{- if not (kindIs "invalid" $b.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ $b.ttlSecondsAfterFinished }}
{{- end }}
podFailurePolicy:
  {{- include "dimtensor.batch.podFailurePolicy" . | nindent 2 }}
template:
  metadata:
    labels:
      {{- include "dimtensor.batch.labels" . | nindent 6 }}
      {{- with $b.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    annotations:
      checksum/config: {{ include "dimtensor.batch.configYaml" . | sha256sum }}
      {{- with merge (deepCopy $b.podAnnotations) .Values.commonAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    {{- include "dimtensor.batch.podSpec" . | nindent 4 }}
{{- end -}}

{{/* Name of the training tier's ConfigMap, claim, headless Service and NetworkPolicy: <fullname>-training. */}}
{{- define "dimtensor.training.fullname" -}}
{{- printf "%s-training" (include "dimtensor.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the training pods (the NetworkPolicy's podSelector and peers, the headless Service). */}}
{{- define "dimtensor.training.selectorLabels" -}}
{{ include "dimtensor.selectorLabels" . }}
app.kubernetes.io/component: training
{{- end -}}

{{/* Labels of the training tier's resources. */}}
{{- define "dimtensor.training.labels" -}}
{{ include "dimtensor.labels" . }}
app.kubernetes.io/component: training
{{- end -}}

{{/* Claim holding the checkpoints: existingClaim, else <fullname>-training. */}}
{{- define "dimtensor.training.claimName" -}}
{{- default (include "dimtensor.training.fullname" .) .Values.training.persistence.existingClaim -}}
{{- end -}}

{{/* Access modes of the chart's checkpoint claim: the value, else ReadWriteOnce on one node and ReadWriteMany on several (every node's pod mounts it, rank 0 writes). */}}
{{- define "dimtensor.training.accessModes" -}}
{{- $p := .Values.training.persistence -}}
{{- if $p.accessModes -}}
{{- toYaml $p.accessModes -}}
{{- else if include "dimtensor.training.multiNode" . -}}
- ReadWriteMany
{{- else -}}
- ReadWriteOnce
{{- end -}}
{{- end -}}

{{/* Where the checkpoint claim is mounted, and the run's checkpoint folder on it (TRAIN_CHECKPOINT_DIR). */}}
{{- define "dimtensor.training.checkpointMount" -}}/checkpoints{{- end -}}
{{- define "dimtensor.training.checkpointDir" -}}
{{- printf "%s/%s" (include "dimtensor.training.checkpointMount" .) (default (include "dimtensor.fullname" .) .Values.training.checkpointPath) -}}
{{- end -}}

{{/* Where rank 0 exports the model (TRAIN_EXPORT_REPOSITORY): the model repository the API reads when it is a claim (mounted read-write in the training pods), else <checkpoint mount>/models. */}}
{{- define "dimtensor.training.exportRepository" -}}
{{- if include "dimtensor.modelClaimName" . -}}
{{- .Values.modelRepository.mountPath -}}
{{- else -}}
{{- printf "%s/models" (include "dimtensor.training.checkpointMount" .) -}}
{{- end -}}
{{- end -}}

{{/* Directory the training config is mounted in, and the file the CLI is given. */}}
{{- define "dimtensor.training.configDir" -}}/etc/dimtensor-train{{- end -}}
{{- define "dimtensor.training.configFile" -}}{{ include "dimtensor.training.configDir" . }}/config.yaml{{- end -}}

{{/* The config file's text: the ConfigMap's config.yaml and the source of checksum/config. */}}
{{- define "dimtensor.training.configYaml" -}}
{{- toYaml .Values.training.config -}}
{{- end -}}

{{/* Processes per node (PET_NPROC_PER_NODE): the value, else gpu.count with the GPU on, else 1. */}}
{{- define "dimtensor.training.nprocPerNode" -}}
{{- $t := .Values.training -}}
{{- if not (kindIs "invalid" $t.nprocPerNode) -}}{{ $t.nprocPerNode }}{{- else if $t.gpu.enabled -}}{{ $t.gpu.count }}{{- else -}}1{{- end -}}
{{- end -}}

{{/* "true" when the run spans several nodes: an Indexed Job, one pod per node, found through the headless Service. */}}
{{- define "dimtensor.training.multiNode" -}}
{{- if gt (int .Values.training.nodes) 1 -}}true{{- end -}}
{{- end -}}

{{/* "true" when torchrun starts the workers (`dimtensor-train launch`): several nodes, or several processes on one. */}}
{{- define "dimtensor.training.distributed" -}}
{{- if or (include "dimtensor.training.multiNode" .) (gt (int (include "dimtensor.training.nprocPerNode" .)) 1) -}}true{{- end -}}
{{- end -}}

{{/* torchrun's rendezvous port on index 0 (PET_MASTER_PORT), the Kubeflow default. */}}
{{- define "dimtensor.training.rendezvousPort" -}}29500{{- end -}}

{{/* backoffLimit: the value, else 3 per node (one crash of a multi-node run usually ends every node's pod). */}}
{{- define "dimtensor.training.backoffLimit" -}}
{{- $t := .Values.training -}}
{{- if kindIs "invalid" $t.backoffLimit -}}{{ mul 3 $t.nodes }}{{- else -}}{{ $t.backoffLimit }}{{- end -}}
{{- end -}}

{{/* TRAIN_DEVICE: the value, else cuda with the GPU on (fail rather than train on the CPU), else cpu. */}}
{{- define "dimtensor.training.device" -}}
{{- $t := .Values.training -}}
{{- if $t.device -}}{{ $t.device }}{{- else if $t.gpu.enabled -}}cuda{{- else -}}cpu{{- end -}}
{{- end -}}

{{/* Resources of the training container: training.resources, plus nvidia.com/gpu = gpu.count in requests and limits with the GPU on. */}}
{{- define "dimtensor.training.resources" -}}
{{- $t := .Values.training -}}
{{- $res := deepCopy (default dict $t.resources) -}}
{{- if $t.gpu.enabled -}}
{{- $gpu := dict "nvidia.com/gpu" $t.gpu.count -}}
{{- $_ := set $res "requests" (merge (deepCopy $gpu) (default dict $res.requests)) -}}
{{- $_ := set $res "limits" (merge (deepCopy $gpu) (default dict $res.limits)) -}}
{{- end -}}
{{- with $res }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Name of the training Job: <fullname>-training-<hash of its spec>; the spec is hashed without the name (PET_MASTER_ADDR holds it). */}}
{{- define "dimtensor.training.jobName" -}}
{{- include "dimtensor.hashedJobName" (dict "base" (include "dimtensor.training.fullname" .) "spec" (include "dimtensor.training.jobSpec" (dict "context" . "jobName" ""))) -}}
{{- end -}}

{{/* Pod spec of the training pods: the API pods' security and image, the config read-only at configFile, the checkpoint claim at /checkpoints, the model repository claim read-write (the export), /tmp and a memory-backed /dev/shm. Call with (dict "context" $ "jobName" NAME). */}}
{{- define "dimtensor.training.podSpec" -}}
{{- $ctx := .context -}}
{{- $t := $ctx.Values.training -}}
{{- $nodeSelector := deepCopy (default dict $t.nodeSelector) -}}
{{- $tolerations := default list $t.tolerations -}}
{{- if $t.gpu.enabled -}}
{{- $nodeSelector = merge $nodeSelector (deepCopy (default dict $t.gpu.nodeSelector)) -}}
{{- $tolerations = concat $tolerations (default list $t.gpu.tolerations) -}}
{{- end -}}
{{- $port := include "dimtensor.training.rendezvousPort" $ctx -}}
{{- $claim := include "dimtensor.modelClaimName" $ctx -}}
restartPolicy: Never
serviceAccountName: {{ default "default" $t.serviceAccountName }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with include "dimtensor.imagePullSecrets" $ctx }}
{{ . }}
{{- end }}
{{- with $t.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $t.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- if include "dimtensor.training.multiNode" $ctx }}
subdomain: {{ include "dimtensor.training.fullname" $ctx }}
{{- end }}
terminationGracePeriodSeconds: {{ $t.terminationGracePeriodSeconds }}
securityContext:
  {{- include "dimtensor.podSecurityContext" $ctx | nindent 2 }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $t.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: training
    image: {{ include "dimtensor.image" $ctx }}
    imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
    args: ["train", {{ if include "dimtensor.training.distributed" $ctx }}"launch"{{ else }}"run"{{ end }}, {{ include "dimtensor.training.configFile" $ctx | quote }}]  # the image's entrypoint: dimtensor
    {{- if include "dimtensor.training.multiNode" $ctx }}
    ports:
      - name: rendezvous
        containerPort: {{ $port }}
        protocol: TCP
    {{- end }}
    env:
      - name: TRAIN_CHECKPOINT_DIR
        value: {{ include "dimtensor.training.checkpointDir" $ctx | quote }}
      - name: TRAIN_EXPORT_REPOSITORY
        value: {{ include "dimtensor.training.exportRepository" $ctx | quote }}
      - name: TRAIN_DEVICE
        value: {{ include "dimtensor.training.device" $ctx | quote }}
      - name: HOME
        value: /tmp
      - name: TORCH_THREADS
        value: {{ $t.torchThreads | quote }}
      - name: OMP_NUM_THREADS
        value: {{ $t.torchThreads | quote }}
      {{- if include "dimtensor.training.distributed" $ctx }}
      - name: PET_NNODES
        value: {{ $t.nodes | quote }}
      - name: PET_NPROC_PER_NODE
        value: {{ include "dimtensor.training.nprocPerNode" $ctx | quote }}
      {{- if include "dimtensor.training.multiNode" $ctx }}
      - name: PET_MASTER_ADDR
        value: {{ printf "%s-0.%s" .jobName (include "dimtensor.training.fullname" $ctx) | quote }}
      {{- else }}
      - name: PET_NODE_RANK
        value: "0"
      - name: PET_MASTER_ADDR
        value: "127.0.0.1"
      {{- end }}
      - name: PET_MASTER_PORT
        value: {{ $port | quote }}
      {{- end }}
      {{- with $t.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $t.extraEnvFrom }}
    envFrom:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- include "dimtensor.containerSecurityContext" $ctx | nindent 6 }}
    {{- with include "dimtensor.training.resources" $ctx }}
    resources:
      {{- . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: {{ include "dimtensor.training.configDir" $ctx }}
        readOnly: true
      - name: checkpoints
        mountPath: {{ include "dimtensor.training.checkpointMount" $ctx }}
      - name: tmp
        mountPath: /tmp
      - name: dshm
        mountPath: /dev/shm
      {{- if $claim }}
      - name: models
        mountPath: {{ $ctx.Values.modelRepository.mountPath }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "dimtensor.training.fullname" $ctx }}
      items:
        - key: config.yaml
          path: config.yaml
  - name: checkpoints
    {{- if $t.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ include "dimtensor.training.claimName" $ctx }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $t.tmpSizeLimit }}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ $t.shmSizeLimit }}
  {{- if $claim }}
  - name: models
    persistentVolumeClaim:
      claimName: {{ $claim }}
  {{- end }}
{{- end -}}

{{/* Spec of the training Job: one pod (`dimtensor-train run`, or `launch` for several processes), or with nodes > 1 an Indexed Job of one pod per node whose index is torchrun's node rank; the podFailurePolicy follows the exit table (jobkit/exits.py, rendered into _exits.tpl: 2 FailJob, 75 Ignore). Call with (dict "context" $ "jobName" NAME). */}}
{{- define "dimtensor.training.jobSpec" -}}
{{- $ctx := .context -}}
{{- $t := $ctx.Values.training -}}
{{- if include "dimtensor.training.multiNode" $ctx -}}
completionMode: Indexed
completions: {{ $t.nodes }}
parallelism: {{ $t.nodes }}
{{- else -}}
completions: 1
parallelism: 1
{{- end }}
backoffLimit: {{ include "dimtensor.training.backoffLimit" $ctx }}
podReplacementPolicy: Failed
{{- if not (kindIs "invalid" $t.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ $t.activeDeadlineSeconds }}
{{- end }}
{{- if not (kindIs "invalid" $t.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ $t.ttlSecondsAfterFinished }}
{{- end }}
podFailurePolicy:
  {{- include "dimtensor.training.podFailurePolicy" $ctx | nindent 2 }}
template:
  metadata:
    labels:
      {{- include "dimtensor.training.labels" $ctx | nindent 6 }}
      {{- with $t.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    annotations:
      checksum/config: {{ include "dimtensor.training.configYaml" $ctx | sha256sum }}
      {{- with merge (deepCopy $t.podAnnotations) $ctx.Values.commonAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    {{- include "dimtensor.training.podSpec" . | nindent 4 }}
{{- end -}}

{{/* Checks across values that the schema cannot express; fails the render with every message. */}}
{{- define "dimtensor.validateValues" -}}
{{- $msgs := list -}}
{{- $api := .Values.api -}}
{{- $repo := .Values.modelRepository -}}
{{- $floor := add $api.preStopSleepSeconds $api.config.gracefulTimeout -}}
{{- if and (not (kindIs "invalid" $api.terminationGracePeriodSeconds)) (le (int $api.terminationGracePeriodSeconds) (int $floor)) -}}
{{- $msgs = append $msgs (printf "api.terminationGracePeriodSeconds (%v) must exceed api.preStopSleepSeconds + api.config.gracefulTimeout (%v), or in-flight requests are killed" $api.terminationGracePeriodSeconds $floor) -}}
{{- end -}}
{{- if gt (float64 $api.config.drainIdleSeconds) (sub $api.config.gracefulTimeout 1 | float64) -}}
{{- $msgs = append $msgs (printf "api.config.drainIdleSeconds (%v) must not exceed api.config.gracefulTimeout - 1 (%v): a stopping worker gives up on its connections a second before gracefulTimeout" $api.config.drainIdleSeconds (sub $api.config.gracefulTimeout 1)) -}}
{{- end -}}
{{- if and (eq $repo.type "existingClaim") (not $repo.existingClaim) -}}
{{- $msgs = append $msgs "modelRepository.existingClaim must name a PersistentVolumeClaim when modelRepository.type is existingClaim" -}}
{{- end -}}
{{- if and (ne $repo.type "image") $repo.manifests -}}
{{- $msgs = append $msgs "modelRepository.manifests works only with modelRepository.type=image: copy model.yaml files into the claim instead (see the chart README, \"Model repository\")" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $repo.manifests -}}
{{- $k := include "dimtensor.manifestKey" . -}}
{{- if hasKey $seen $k -}}
{{- $msgs = append $msgs (printf "modelRepository.manifests lists %s version %v twice" .name .version) -}}
{{- end -}}
{{- $_ := set $seen $k true -}}
{{- end -}}
{{- if and $api.auth.enabled (not $api.auth.existingSecret) (not $api.auth.apiKeys) -}}
{{- $msgs = append $msgs "api.auth.enabled needs api.auth.apiKeys or api.auth.existingSecret" -}}
{{- end -}}
{{- if and $api.auth.metrics (not $api.auth.enabled) -}}
{{- $msgs = append $msgs "api.auth.metrics needs api.auth.enabled" -}}
{{- end -}}
{{- if and $api.auth.metrics $api.metrics.serviceMonitor.enabled (not $api.metrics.serviceMonitor.bearerTokenSecret.name) -}}
{{- $msgs = append $msgs "api.metrics.serviceMonitor.bearerTokenSecret.name is needed to scrape /metrics when api.auth.metrics is on" -}}
{{- end -}}
{{- if and $api.autoscaling.enabled (gt (int $api.autoscaling.minReplicas) (int $api.autoscaling.maxReplicas)) -}}
{{- $msgs = append $msgs "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $api.autoscaling.enabled (kindIs "invalid" $api.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $api.autoscaling.targetMemoryUtilizationPercentage) (not $api.autoscaling.requestsPerSecond.enabled) -}}
{{- $msgs = append $msgs "api.autoscaling needs at least one metric (CPU, memory or requestsPerSecond)" -}}
{{- end -}}
{{- if and $api.autoscaling.enabled (not (kindIs "invalid" $api.autoscaling.targetCPUUtilizationPercentage)) (not (dig "requests" "cpu" "" $api.resources)) -}}
{{- $msgs = append $msgs "api.autoscaling.targetCPUUtilizationPercentage needs api.resources.requests.cpu" -}}
{{- end -}}
{{- if and $api.autoscaling.enabled (not (kindIs "invalid" $api.autoscaling.targetMemoryUtilizationPercentage)) (not (dig "requests" "memory" "" $api.resources)) -}}
{{- $msgs = append $msgs "api.autoscaling.targetMemoryUtilizationPercentage needs api.resources.requests.memory" -}}
{{- end -}}
{{- $b := .Values.batch -}}
{{- if $b.enabled -}}
{{- if not $b.config -}}
{{- $msgs = append $msgs "batch.config is empty: give the batch config file as a mapping (values-batch.yaml has an example sweep)" -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $b.maxFailedIndexes)) (gt (int $b.maxFailedIndexes) (int $b.shards)) -}}
{{- $msgs = append $msgs (printf "batch.maxFailedIndexes (%v) must not exceed batch.shards (%v)" $b.maxFailedIndexes $b.shards) -}}
{{- end -}}
{{- if and $b.persistence.enabled (not $b.persistence.existingClaim) (has "ReadWriteOncePod" $b.persistence.accessModes) (gt (int $b.parallelism) 1) -}}
{{- $msgs = append $msgs "batch.persistence.accessModes ReadWriteOncePod lets one pod at a time mount the output: set batch.parallelism to 1" -}}
{{- end -}}
{{- end -}}
{{- $t := .Values.training -}}
{{- if $t.enabled -}}
{{- if not $t.config -}}
{{- $msgs = append $msgs "training.config is empty: give the training config file as a mapping (values-training.yaml has the damped oscillator)" -}}
{{- end -}}
{{- if and $t.persistence.enabled (not $t.persistence.existingClaim) (has "ReadWriteOncePod" $t.persistence.accessModes) (gt (int $t.nodes) 1) -}}
{{- $msgs = append $msgs "training.persistence.accessModes ReadWriteOncePod lets one pod mount the checkpoints, but every node's pod does: use ReadWriteMany (the default for training.nodes > 1)" -}}
{{- end -}}
{{- if and $t.persistence.enabled (include "dimtensor.modelClaimName" .) (eq (include "dimtensor.modelClaimName" .) (include "dimtensor.training.claimName" .)) -}}
{{- $msgs = append $msgs (printf "the model repository and the training checkpoints are one claim (%s): give training its own claim, or serve the export from another release (deploy/README.md \"Training jobs\")" (include "dimtensor.training.claimName" .)) -}}
{{- end -}}
{{- end -}}
{{- if $msgs -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $msgs)) -}}
{{- end -}}
{{- end -}}
