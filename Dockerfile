# syntax=docker/dockerfile:1
# One CPU image for the three workloads: `serve` (default), `batch ...`, `train ...`.
# Build:  make image                  (podman, or docker where a daemon runs; docs/images.md)
#         docker build -t ghcr.io/dimtensor/dimtensor-serve:0.1.0 .
# Run it as the chart does: read-only root filesystem, UID 10001, no capability, no new privileges,
# writable /tmp and /home/app (emptyDirs in the chart): make image-run.

# An official Python image by default; the tests build on a Debian base made locally with
# debootstrap and tagged with this name, since no registry is reachable there.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm
# checkov:skip=CKV_DOCKER_7:FROM takes BASE_IMAGE, whose default above carries a fixed tag

FROM ${BASE_IMAGE} AS builder

# Where torch comes from. Real users: the CPU wheel index (no CUDA libraries, ~4x smaller).
# Where that index is unreachable, a folder holding the wheel is mounted into the build
# (`podman build -v /opt/wheels:/wheels:ro --build-arg TORCH_FIND_LINKS=/wheels`).
# The `+cpu` label pins the CPU build: it cannot resolve to a CUDA wheel.
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=""
# Optional extras of the package, e.g. "tracking" for MLflow logging in dimtensor-train.
ARG EXTRAS=""
# A CA bundle mounted into the build where pip's TLS goes through a proxy (a path, never a copy);
# pip reads it from the environment, and an empty value is no setting.
ARG PIP_CERT=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# binutils for `strip`: the builder stage only, never in the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils=2.40-2 \
    && rm -rf /var/lib/apt/lists/*

# The chart's UID/GID (values.yaml security.*), made here and copied into the runtime stage.
# Files the app writes live under HOME and /tmp; HOME is owned by the app and group 0 with
# group rights equal to the owner's, so an arbitrary UID in group 0 (OpenShift) works too.
# Both are emptyDir volumes in the chart (read-only root).
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --home-dir /home/app --no-create-home \
        --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 0 -m 0775 /home/app

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first, alone: the largest layer changes least often.
RUN if [ -n "${TORCH_FIND_LINKS}" ]; then \
        pip install --no-deps \
            --no-index --find-links="${TORCH_FIND_LINKS}" "torch==${TORCH_VERSION}"; \
    else \
        pip install --no-deps \
            --index-url="${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi

# The package and its pinned dependencies (the same constraints `make install` uses).
COPY requirements/constraints.txt /src/requirements/constraints.txt
COPY pyproject.toml README.md /src/
COPY service /src/service
COPY jobkit /src/jobkit
COPY batch /src/batch
COPY training /src/training
COPY loadtests /src/loadtests
COPY harness /src/harness
COPY container /src/container
RUN pip install -c /src/requirements/constraints.txt \
        "/src${EXTRAS:+[${EXTRAS}]}" \
    && pip check

# The measured trims and the byte code, in this stage: the runtime stage copies what is left.
COPY scripts/trim-venv.sh /usr/local/bin/trim-venv
RUN trim-venv /opt/venv


FROM ${BASE_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/dimtensor/dimtensor-serve
LABEL org.opencontainers.image.title="dimtensor-serve" \
      org.opencontainers.image.description="Unit-aware prediction server, batch and training jobs for dimtensor models (CPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.dimtensor.accelerator="cpu"

# The account and HOME made in the builder (see there). No RUN in this stage: a build's
# mounts (the wheel folder, a CA bundle) would leave their empty mount points in a layer.
COPY --from=builder /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/
COPY --from=builder --chown=10001:0 /home /home
COPY --from=builder /opt/venv /opt/venv

# HOME: dimtensor writes ~/.dimtensor and ~/.cache; TORCH_THREADS/OMP_NUM_THREADS: one thread
# per worker process (FIELD-NOTES: two processes with default threads fall to a third).
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    IMAGE_ACCELERATOR=cpu \
    HOST=0.0.0.0 \
    PORT=8080

WORKDIR /home/app
USER 10001:10001
EXPOSE 8080

# Kubernetes ignores HEALTHCHECK (the chart's probes are /healthz and /readyz), and the batch and
# training containers of this image serve no HTTP: a serve-only check would mark them unhealthy.
# checkov:skip=CKV_DOCKER_2:Kubernetes probes are the health checks; one image runs three workloads
ENTRYPOINT ["dimtensor"]
CMD ["serve"]
