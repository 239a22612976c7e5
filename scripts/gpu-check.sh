#!/usr/bin/env bash
# The prepared check of a machine with an NVIDIA GPU (docs/images.md, "Checking a GPU node"):
# a few minutes (at most 10), no network, from a checkout whose venv `make install` made.
#
#   scripts/gpu-check.sh [run] [options]
#       train the oscillator PINN of examples/training/oscillator.yaml with TRAIN_DEVICE=cuda
#       and export it into a temporary model repository; serve the export on loopback with
#       MODEL_DEVICE=cuda and with MODEL_DEVICE=cpu, ask both the same /predict (300 rows, t in
#       ms, x in mm) and compare the answers within 1e-4 of the answer's scale (why that
#       tolerance: bench/gpu_check.py), exit 1 on a mismatch; print the throughput of the
#       forward pass (rows/s at batches of 1 to 65,536 rows) and of /predict (requests/s and
#       rows/s of a closed loop) on both devices, and write them as JSON to FILE.
#       Without a GPU: one line "no GPU: ..." (what torch sees), then the same on the CPU
#       alone (its server's answer against the export's forward pass), exit 0.
#   scripts/gpu-check.sh device      one line: what torch sees (exit 0 with a GPU or without)
#   scripts/gpu-check.sh help        this text
#
# Options of run:
#   --json FILE         where the report goes (default: gpu-check.json here)
#   --quick             seconds, not minutes: 50 Adam and 10 L-BFGS steps, short measurements;
#                       how CI runs the CPU half, in under a minute (also GPU_CHECK_QUICK=1)
#   --work DIR          keep the config, checkpoints, export and servers' logs in DIR (default:
#                       a temporary folder, removed at the end)
#   --steps N           Adam steps (default: the example's, 3000)
#   --lbfgs-steps N     L-BFGS steps (default: the example's, 500)
#   --tolerance X       the largest difference, as a share of the answer's scale (1e-4)
#
# Settings (environment): PYTHON, the venv's Python (default: .venv/bin/python of this
# checkout); GPU_CHECK_QUICK=1 as --quick; TORCH_THREADS, as for the server (1).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
NO_GPU=3 # bench.gpu_check device: torch sees no GPU

die() {
  echo "gpu-check: $*" >&2
  exit 2
}

usage() {
  sed -n '2,/^$/{/^$/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# bench.gpu_check from this checkout, with the venv's Python.
check() {
  [[ -x "${PYTHON}" ]] || die "no Python at ${PYTHON}: run 'make install' first, or set PYTHON"
  (cd "${ROOT}" && "${PYTHON}" -m bench.gpu_check "$@")
}

device() {
  local code=0
  check device || code=$?
  [[ "${code}" -eq 0 || "${code}" -eq "${NO_GPU}" ]] || exit "${code}"
}

run() {
  local json="gpu-check.json" work="" quick="${GPU_CHECK_QUICK:-}" tolerance="" dev code=0
  local train_args=() measure_args=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --json) json="${2:?--json takes a file}"; shift 2 ;;
      --work) work="${2:?--work takes a folder}"; shift 2 ;;
      --quick) quick=1; shift ;;
      --steps | --lbfgs-steps) train_args+=("$1" "${2:?$1 takes a number}"); shift 2 ;;
      --tolerance) tolerance="${2:?--tolerance takes a number}"; shift 2 ;;
      *) die "unknown option '$1' (scripts/gpu-check.sh help)" ;;
    esac
  done
  if [[ -n "${quick}" && "${quick}" != 0 ]]; then
    train_args+=(--quick)
    measure_args+=(--quick)
  fi
  if [[ -n "${tolerance}" ]]; then
    measure_args+=(--tolerance "${tolerance}")
  fi
  json="$(realpath -m -- "${json}")"
  if [[ -n "${work}" ]]; then
    mkdir -p -- "${work}"
    work="$(realpath -- "${work}")"
  else
    work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
    # shellcheck disable=SC2064 # the folder is known now; expand it now
    trap "rm -rf -- '${work}'" EXIT
  fi

  check device || code=$?
  case "${code}" in
    0) dev=cuda ;;
    "${NO_GPU}") dev=cpu ;;
    *) exit "${code}" ;;
  esac
  local started="${SECONDS}"
  echo "gpu-check: training on ${dev} in ${work}" >&2
  check train "${work}" --device "${dev}" "${train_args[@]}"
  echo "gpu-check: serving the export, comparing, measuring" >&2
  check measure "${work}" --device "${dev}" --json "${json}" "${measure_args[@]}"
  echo "gpu-check: passed on ${dev} in $((SECONDS - started)) s" >&2
}

case "${1:-run}" in
  run) run "${@:2}" ;;
  help | -h | --help) usage ;;
  --*) run "$@" ;;
  device) device ;;
  *) usage >&2; die "unknown command '$1'" ;;
esac
