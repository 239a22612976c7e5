#!/usr/bin/env bash
# Builds and runs the project's container images (docs/images.md). Used by `make image`,
# `make image-run` and the image tests.
#
#   scripts/image.sh build [cpu|gpu|load]
#                                      build Dockerfile (cpu, the default) or Dockerfile.gpu, or
#                                      the CPU image with Locust (load: tag suffix -load, what
#                                      deploy/examples/loadtest runs on the test cluster); ends
#                                      by removing what earlier builds left untagged and
#                                      printing the image's tag and size in MB
#   scripts/image.sh run               run the CPU image on $PORT as the chart runs it, in the
#                                      foreground until stopped
#   scripts/image.sh base              make sure the base image exists: pull it, or, when no
#                                      registry answers, make it locally (debootstrap + import)
#   scripts/image.sh tag [cpu|gpu|load]
#                                      print the tag a build gets
#   scripts/image.sh run-options       print `run`'s security and volume options, one a line
#   scripts/image.sh torch-wheels      print the folder the CPU build takes the torch wheel from
#                                      (empty: none; the build then asks the PyTorch index)
#   scripts/image.sh engine            print the engine, then its environment (NAME=value, one a
#                                      line): how the benchmarks and tests run it (harness/)
#
# The engine is docker where a daemon answers, else podman (ENGINE=podman|docker to choose).
# With podman, CONTAINERS_CONF defaults to .tools/containers.conf when scripts/install-tools.sh
# wrote one (runc instead of crun, ulimits the host allows). This is the one place that chooses.
#
# Settings (environment):
#   IMAGE             the tag (default ghcr.io/dimtensor/dimtensor-serve:<version>[-cuda]);
#                     <version> is pyproject's, which the chart's appVersion repeats
#   BASE_IMAGE        the base (default: Dockerfile's, python:3.11-slim-bookworm)
#   LOCAL_BASE=1      make the base locally without trying a registry first
#   TORCH_FIND_LINKS  (cpu and load: the GPU image takes torch and its CUDA wheels from PyPI,
#                     pinned by requirements/cuda.txt)
#                     a folder holding the torch wheel, mounted into the build; by default the
#                     first folder pip would search (PIP_FIND_LINKS, then every pip config
#                     file's find-links) that holds torch-<TORCH_VERSION>, else none: the wheel
#                     comes from TORCH_INDEX_URL (the PyTorch CPU index), and the build fails at
#                     once, naming what it looked for, when that index does not answer
#   PIP_CERT          a CA bundle for pip in the build, mounted (podman) and never copied;
#                     by default pip's own `global.cert` setting where one is configured
#   PORT              the host port of `run` (default 8080)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

REGISTRY_IMAGE="ghcr.io/dimtensor/dimtensor-serve"
DEFAULT_BASE="docker.io/library/python:3.11-slim-bookworm"
TORCH_VERSION="${TORCH_VERSION:-2.13.0+cpu}"
BUILD_LABEL="io.dimtensor.built-by=scripts/image.sh"  # + ":<variant>": what prune_superseded removes
UID_GID="10001:10001"  # deploy/helm/dimtensor/values.yaml security.runAsUser/runAsGroup

die() {
  echo "image: $*" >&2
  exit 1
}

choose_engine() {
  if [[ -n "${ENGINE:-}" ]]; then
    echo "${ENGINE}"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  elif command -v podman >/dev/null 2>&1; then
    echo podman
  else
    die "neither a docker daemon nor podman is available: run 'make tools' (installs podman)"
  fi
}

ENGINE="$(choose_engine)"
if [[ "${ENGINE}" == podman && -z "${CONTAINERS_CONF:-}" && -f "${ROOT}/.tools/containers.conf" ]]; then
  export CONTAINERS_CONF="${ROOT}/.tools/containers.conf"
fi

version() {
  python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])'
}

# The tag scheme: <appVersion> for the CPU image, <appVersion>-cuda for the GPU one.
tag() {
  local variant="${1:-cpu}" suffix=""
  [[ "${variant}" == gpu ]] && suffix="-cuda"
  [[ "${variant}" == load ]] && suffix="-load"
  echo "${IMAGE:-${REGISTRY_IMAGE}:$(version)${suffix}}"
}

image_exists() {
  "${ENGINE}" image inspect "$1" >/dev/null 2>&1
}

# A Debian bookworm root with Debian's Python 3.11 and venv, trimmed, imported under the
# default base's name: the stand-in for python:3.11-slim-bookworm where no registry answers.
make_local_base() {
  local name="$1" root
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: run 'make tools'"
  root="$(mktemp -d)"
  echo "image: making ${name} locally (debootstrap bookworm, no registry answered)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "${root}" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "${root}"/usr/share/{doc,man,info,locale}/* "${root}"/var/cache/apt/* \
    "${root}"/var/lib/apt/lists/* "${root}"/var/log/*
  tar -C "${root}" -c . | "${ENGINE}" import \
    --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "${name}" >/dev/null
  rm -rf "${root}"
}

ensure_base() {
  local name="${BASE_IMAGE:-${DEFAULT_BASE}}"
  image_exists "${name}" && return 0
  if [[ "${LOCAL_BASE:-0}" != 1 ]] && timeout 120 "${ENGINE}" pull -q "${name}" >/dev/null 2>&1; then
    return 0
  fi
  make_local_base "${name}"
}

# Every find-links folder pip would use, one a line, in pip's order of precedence: the
# PIP_FIND_LINKS variable, then each configuration file pip reads (`pip config debug` names them
# all: site, user, global and PIP_CONFIG_FILE), under [global] or [install].
pip_find_links() {
  local word
  for word in ${PIP_FIND_LINKS:-}; do echo "${word}"; done
  python3 -m pip config debug 2>/dev/null |
    sed -n 's/^ *\(global\|install\)\.find-links: *//p' | tr ' ' '\n' | sed '/^$/d' || true
}

# The folder holding torch-<TORCH_VERSION>: TORCH_FIND_LINKS, else the first of pip's find-links
# folders that holds the wheel, else nothing (the build then asks the PyTorch index).
torch_find_links() {
  if [[ -n "${TORCH_FIND_LINKS:-}" ]]; then
    echo "${TORCH_FIND_LINKS}"
    return 0
  fi
  local folder
  while IFS= read -r folder; do
    folder="${folder#file://}"
    compgen -G "${folder}/torch-${TORCH_VERSION}-*.whl" >/dev/null && echo "${folder}" && return 0
  done < <(pip_find_links)
  return 0
}

# With no wheel folder the build needs the PyTorch CPU index: ask it once, briefly, so that a
# machine without it fails now with what to do, not after pip's retries inside the build.
require_torch_index() {
  local index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
  python3 - "${index}/torch/" 2>/dev/null <<'PY' && return 0
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=10).close()
PY
  die "no torch-${TORCH_VERSION} wheel in TORCH_FIND_LINKS, PIP_FIND_LINKS or pip's config" \
    "files ($(pip_find_links | paste -sd' ' - || true)), and ${index} does not answer:" \
    "set TORCH_FIND_LINKS (or PIP_FIND_LINKS) to a folder holding the wheel"
}

pip_cert() {
  if [[ -n "${PIP_CERT:-}" ]]; then
    echo "${PIP_CERT}"
  else
    python3 -m pip config get global.cert 2>/dev/null || true
  fi
}

size_mb() {
  local bytes
  bytes="$("${ENGINE}" image inspect --format '{{.Size}}' "$1")"
  echo $(((bytes + 500000) / 1000000))
}

build() {
  local variant="${1:-cpu}" dockerfile=Dockerfile name args=() links cert
  [[ "${variant}" == gpu ]] && dockerfile=Dockerfile.gpu
  [[ "${variant}" =~ ^(cpu|gpu|load)$ ]] || die "unknown variant '${variant}': cpu, gpu or load"
  name="$(tag "${variant}")"
  # load: the CPU image with the `load` extra (Locust), for in-cluster load generators
  [[ "${variant}" == load ]] && args+=(--build-arg "EXTRAS=${EXTRAS:+${EXTRAS},}load")
  if [[ "${variant}" != gpu ]]; then
    links="$(torch_find_links)"
    if [[ -n "${links}" ]]; then
      [[ "${ENGINE}" == podman ]] || die "TORCH_FIND_LINKS needs podman (a folder mounted into the build)"
      args+=(-v "${links}:/wheels:ro" --build-arg TORCH_FIND_LINKS=/wheels)
    else
      require_torch_index
      [[ -n "${TORCH_INDEX_URL:-}" ]] && args+=(--build-arg "TORCH_INDEX_URL=${TORCH_INDEX_URL}")
    fi
  fi
  # One base for both: the GPU image takes CUDA from torch's wheels (PyPI), not from its base.
  ensure_base
  [[ -n "${BASE_IMAGE:-}" ]] && args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
  cert="$(pip_cert)"
  if [[ -n "${cert}" && "${ENGINE}" == podman ]]; then
    args+=(-v "${cert}:/run/build-ca/ca.pem:ro" --build-arg PIP_CERT=/run/build-ca/ca.pem)
  fi
  # podman: the base is here (ensure_base); the docker format keeps SHELL (OCI drops it)
  [[ "${ENGINE}" == podman ]] && args+=(--pull=never --format=docker)
  local revision started
  revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  started="$(date +%s)"
  # The labels go on the command line too: podman's layer cache reuses a LABEL step whose
  # build argument changed (a stale revision), the engine's own --label never is. A label on
  # the command line marks every stage, the builder's too, which is what prune_superseded finds.
  "${ENGINE}" build -f "${dockerfile}" -t "${name}" \
    --build-arg "VERSION=$(version)" --build-arg "REVISION=${revision}" \
    --label "org.opencontainers.image.version=$(version)" \
    --label "org.opencontainers.image.revision=${revision}" \
    --label "${BUILD_LABEL}:${variant}" \
    "${args[@]}" .
  prune_superseded "${variant}" "${started}"
  echo "image: ${name} $(size_mb "${name}") MB"
}

# Each build leaves the image it replaced and its builder stage (2 GB with torch, 9 GB with
# CUDA) untagged; on a shared disk a day of builds filled it (a cluster test's pod then failed
# with ENOSPC). Remove the untagged images of this script's builds of VARIANT made before this
# one started (STARTED, epoch seconds), keeping this build's own builder stage as the layer
# cache of the next, and the other variants' as theirs.
prune_superseded() {
  local variant="$1" started="$2"
  "${ENGINE}" image prune --force --filter "label=${BUILD_LABEL}:${variant}" \
    --filter "until=${started}" >/dev/null ||
    echo "image: could not remove the untagged images of earlier builds (left as they are)" >&2
}

# The chart's pod: read-only root, UID/GID 10001, no capability, no new privileges, and
# emptyDirs at /tmp, /home/app and /tmp/prometheus (tmpfs here), with the configmap's
# PROMETHEUS_MULTIPROC_DIR. One option per line (tests/image reads them: `run-options`).
run_options() {
  printf '%s\n' --read-only "--user=${UID_GID}" --cap-drop=ALL \
    --security-opt=no-new-privileges \
    --tmpfs=/tmp:rw,mode=1777 --tmpfs=/tmp/prometheus:rw,mode=1777 \
    --env=PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
  # HOME: podman gives a tmpfs the image folder's mode and root as owner (U: the user's),
  # docker takes the owner as mount options. Podman alone adds writable /run and /var/tmp to
  # --read-only unless told not to.
  if [[ "${ENGINE}" == podman ]]; then
    printf '%s\n' --tmpfs=/home/app:rw,U --read-only-tmpfs=false
  else
    echo "--tmpfs=/home/app:rw,uid=${UID_GID%%:*},gid=${UID_GID##*:}"
  fi
}

run() {
  local name options tty=()
  name="$(tag cpu)"
  image_exists "${name}" || die "${name} is not built: run 'make image' first"
  mapfile -t options < <(run_options)
  [[ -t 0 && -t 1 ]] && tty=(-it)
  echo "image: serving ${name} on http://localhost:${PORT:-8080} (Ctrl-C stops it)" >&2
  exec "${ENGINE}" run --rm "${tty[@]}" "${options[@]}" -p "${PORT:-8080}:8080" "${name}" serve
}

# The engine and the settings it runs with here, for callers in other languages (harness/
# containers.py), so that they ask rather than choose again.
engine() {
  echo "${ENGINE}"
  if [[ "${ENGINE}" == podman && -n "${CONTAINERS_CONF:-}" ]]; then
    echo "CONTAINERS_CONF=${CONTAINERS_CONF}"
  fi
}

case "${1:-}" in
  build) build "${2:-cpu}" ;;
  run) run ;;
  run-options) run_options ;;
  base) ensure_base ;;
  tag) tag "${2:-cpu}" ;;
  torch-wheels) torch_find_links ;;
  engine) engine ;;
  *) die "usage: scripts/image.sh build [cpu|gpu|load] | run | run-options | base | tag [cpu|gpu|load] | torch-wheels | engine" ;;
esac
