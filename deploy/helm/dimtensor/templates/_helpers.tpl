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

{{/* Checks across values that the schema cannot express; fails the render with every message. */}}
{{- define "dimtensor.validateValues" -}}
{{- $msgs := list -}}
{{- $api := .Values.api -}}
{{- $repo := .Values.modelRepository -}}
{{- $floor := add $api.preStopSleepSeconds $api.config.gracefulTimeout -}}
{{- if and (not (kindIs "invalid" $api.terminationGracePeriodSeconds)) (le (int $api.terminationGracePeriodSeconds) (int $floor)) -}}
{{- $msgs = append $msgs (printf "api.terminationGracePeriodSeconds (%v) must exceed api.preStopSleepSeconds + api.config.gracefulTimeout (%v), or in-flight requests are killed" $api.terminationGracePeriodSeconds $floor) -}}
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
{{- if $msgs -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $msgs)) -}}
{{- end -}}
{{- end -}}
