#!/usr/bin/env bash
# End-to-end check of the chart on a real cluster (kind, or the current kubeconfig context):
# install, wait for the rollout, `helm test`, POST /predict through the Service over
# `kubectl port-forward` and check the number, then uninstall and delete the namespace.
#
# Usage: deploy/test-deployment.sh [extra helm args, e.g. -f deploy/helm/dimtensor/values-inference.yaml]
# Environment:
#   RELEASE=dimtensor-e2e  NAMESPACE=dimtensor-e2e  TIMEOUT=10m  LOCAL_PORT=18080
#   KIND_CLUSTER=name   create this kind cluster if it does not exist, and use its context
#   IMAGE=repo/name:tag load this local image into the kind cluster and install it
#   API_KEY=...         key to send when auth is on (default: first key of the pods' keys file Secret)
#   KEEP=1              leave the release and namespace in place for debugging
# Tools: helm and kubectl from .tools/bin (bash scripts/install-tools.sh) or PATH; python3 for JSON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="${ROOT}/deploy/helm/dimtensor"
RELEASE="${RELEASE:-dimtensor-e2e}"
NAMESPACE="${NAMESPACE:-dimtensor-e2e}"
TIMEOUT="${TIMEOUT:-10m}"
LOCAL_PORT="${LOCAL_PORT:-18080}"
KEEP="${KEEP:-0}"
PF_PID=""

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

find_tool() {
  if [[ -x "${ROOT}/.tools/bin/$1" ]]; then
    printf '%s\n' "${ROOT}/.tools/bin/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    die "$1 not found: run bash scripts/install-tools.sh or install it"
  fi
}
HELM="$(find_tool helm)"
KUBECTL="$(find_tool kubectl)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to check the /predict answer"

cleanup() {
  local rc=$?
  if [[ -n "${PF_PID}" ]]; then
    kill "${PF_PID}" 2>/dev/null || true
  fi
  if [[ "${rc}" -ne 0 ]]; then
    log "diagnostics"
    "${KUBECTL}" -n "${NAMESPACE}" get all,events --ignore-not-found >&2 || true
    "${KUBECTL}" -n "${NAMESPACE}" logs -l "app.kubernetes.io/instance=${RELEASE}" --all-containers \
      --tail=50 >&2 || true
  fi
  if [[ "${KEEP}" == "1" ]]; then
    log "KEEP=1: leaving release ${RELEASE} in namespace ${NAMESPACE}"
  else
    log "cleaning up"
    "${HELM}" uninstall "${RELEASE}" -n "${NAMESPACE}" --wait >/dev/null 2>&1 || true
    "${KUBECTL}" delete namespace "${NAMESPACE}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  exit "${rc}"
}
trap cleanup EXIT

# --- cluster -----------------------------------------------------------------------------------
image_args=()
if [[ -n "${KIND_CLUSTER:-}" ]]; then
  command -v kind >/dev/null 2>&1 || die "KIND_CLUSTER is set but kind is not installed"
  if ! kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER}"; then
    log "creating kind cluster ${KIND_CLUSTER}"
    kind create cluster --name "${KIND_CLUSTER}" --wait 120s
  fi
  "${KUBECTL}" config use-context "kind-${KIND_CLUSTER}" >/dev/null
  if [[ -n "${IMAGE:-}" ]]; then
    log "loading ${IMAGE} into kind"
    kind load docker-image "${IMAGE}" --name "${KIND_CLUSTER}"
  fi
fi
if [[ -n "${IMAGE:-}" ]]; then
  # registry/repository:tag -> chart values (an empty registry keeps the reference as given)
  image_args=(--set-string "image.registry=" --set-string "image.repository=${IMAGE%:*}"
    --set-string "image.tag=${IMAGE##*:}" --set-string "image.pullPolicy=IfNotPresent")
fi
"${KUBECTL}" version >/dev/null || die "no reachable cluster in the current kubeconfig context"
log "cluster: $("${KUBECTL}" config current-context)"

# --- install and wait --------------------------------------------------------------------------
log "installing ${RELEASE} into ${NAMESPACE}"
"${HELM}" upgrade --install "${RELEASE}" "${CHART}" -n "${NAMESPACE}" --create-namespace \
  --wait --timeout "${TIMEOUT}" "${image_args[@]}" "$@"

selector="app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=api"
deployment="$("${KUBECTL}" -n "${NAMESPACE}" get deployment -l "${selector}" -o name)"
[[ -n "${deployment}" ]] || die "no API Deployment for release ${RELEASE}"
"${KUBECTL}" -n "${NAMESPACE}" rollout status "${deployment}" --timeout "${TIMEOUT}"

# --- helm test ---------------------------------------------------------------------------------
log "helm test"
"${HELM}" test "${RELEASE}" -n "${NAMESPACE}" --logs --timeout "${TIMEOUT}"

# --- /predict through the Service --------------------------------------------------------------
service="$("${KUBECTL}" -n "${NAMESPACE}" get service -l "${selector}" -o name)"
[[ -n "${service}" ]] || die "no API Service for release ${RELEASE}"
service_port="$("${KUBECTL}" -n "${NAMESPACE}" get "${service}" -o jsonpath='{.spec.ports[0].port}')"

auth_header=()
auth_secret="$("${KUBECTL}" -n "${NAMESPACE}" get "${deployment}" \
  -o jsonpath='{.spec.template.spec.volumes[?(@.name=="auth")].secret.secretName}')"
if [[ -n "${auth_secret}" ]]; then
  if [[ -z "${API_KEY:-}" ]]; then
    auth_key="$("${KUBECTL}" -n "${NAMESPACE}" get "${deployment}" \
      -o jsonpath='{.spec.template.spec.volumes[?(@.name=="auth")].secret.items[0].key}')"
    API_KEY="$("${KUBECTL}" -n "${NAMESPACE}" get secret "${auth_secret}" \
      -o "go-template={{index .data \"${auth_key}\" | base64decode}}" | grep -m1 -v '^[[:space:]]*$')"
  fi
  auth_header=(-H "Authorization: Bearer ${API_KEY}")
fi

log "port-forward ${service} -> 127.0.0.1:${LOCAL_PORT}"
"${KUBECTL}" -n "${NAMESPACE}" port-forward "${service}" "${LOCAL_PORT}:${service_port}" >/dev/null 2>&1 &
PF_PID=$!
for _ in $(seq 1 30); do
  if curl -fsS "http://127.0.0.1:${LOCAL_PORT}/readyz" >/dev/null 2>&1; then
    break
  fi
  sleep 1
done

log "POST /predict"
answer="$(curl -fsS "http://127.0.0.1:${LOCAL_PORT}/predict" -H 'Content-Type: application/json' \
  "${auth_header[@]}" \
  -d '{"model": "projectile", "inputs": {"speed": {"value": 72, "unit": "km/h"}, "angle": {"value": 45, "unit": "deg"}, "g": {"value": 9.80665, "unit": "m/s^2"}}, "outputs": {"range": "m"}}')"
printf '%s\n' "${answer}"
ANSWER="${answer}" python3 - <<'PY'
import json, math, os
out = json.loads(os.environ["ANSWER"])["outputs"]["range"]
expected = 20.0 ** 2 / 9.80665  # 72 km/h = 20 m/s, sin(2 * 45 deg) = 1
assert out["unit"] == "m", out
assert math.isclose(out["value"], expected, rel_tol=1e-6), (out["value"], expected)
print(f"PASS: range = {out['value']:.6f} m")
PY
log "deployment test passed"
