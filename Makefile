# Two entry points (see README): `make serve` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080
export PORT
export IMAGE

# A folder of wheels beside the checkout (../shared/wheels on this project's machines holds the
# pinned CPU torch, which no reachable index serves) joins pip's find-links for every pip this
# Makefile runs, the image build's included; without it pip uses its registry alone.
WHEELS ?= $(abspath ../shared/wheels)
ifneq ($(wildcard $(WHEELS)/*.whl),)
export PIP_FIND_LINKS := $(strip $(WHEELS) $(PIP_FIND_LINKS))
endif

.PHONY: install tools serve test lint typecheck pytest generate clean bench image image-load \
	image-gpu image-run cluster-tools cluster cluster-down test-cluster

# The venv is rebuilt whenever the declared or pinned dependencies change.
$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## wrk (Debian package, apt-get; the bench smoke test needs it), and helm, kubectl,
## kubernetes-validate, checkov, shellcheck, yamllint into .tools/ (own venv). Quick when done.
tools:
	bash scripts/install-tools.sh

## Start the server (gunicorn + uvicorn workers) on the embedded default models.
serve: $(STAMP)
	$(BIN)/dimtensor-serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) tools
	$(BIN)/pytest --ignore=tests/cluster --ignore=tests/image_gpu

## Lint, type-check and run every test.
test: lint typecheck pytest

## Rewrite every generated file (the table in scripts/generate.py; tests/test_generated.py fails
## when one is stale). The default models retrain, seeded, in a minute or two.
generate: $(STAMP)
	$(BIN)/python scripts/generate.py

## The performance benchmarks (docs/performance.md): the server under wrk on two cores (apt-get
## installs wrk), then batch predict against a bare pyarrow -> torch loop, then the training
## loop against a bare torch loop.
bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.batch
	$(BIN)/python -m bench.training

## The CPU image (podman, or docker where a daemon runs; the base is made locally with
## debootstrap when no registry answers); ends with its tag and size. IMAGE=... sets the tag.
image: tools
	bash scripts/image.sh build cpu

## The CPU image with Locust (tag suffix -load): the load generator the test cluster's
## loadtest examples run.
image-load: tools
	bash scripts/image.sh build load

## The GPU image (Dockerfile.gpu: the CPU image's base, torch's CUDA build and its nvidia-*
## wheels from PyPI; 2.7 GB of downloads).
image-gpu: tools
	bash scripts/image.sh build gpu

## Run the CPU image on PORT as the chart runs it (read-only root filesystem, UID 10001, no
## capability, no new privileges), in the foreground until stopped.
image-run:
	bash scripts/image.sh run

cluster-tools: tools
	bash scripts/install-tools.sh cluster

## A one-node Kubernetes cluster on this machine with the project's image imported
## (scripts/cluster.sh, docs/cluster.md): root; the first run builds Kubernetes (minutes, cached).
cluster: cluster-tools image image-load
	bash scripts/cluster.sh up

cluster-down:
	bash scripts/cluster.sh down

## The GPU image's tests (tests/image_gpu: no GPU needed; the build is too long for `make test`),
## then the tests on that cluster (tests/cluster): they bring it up when it is not, and down
## after. The binaries are built first, outside pytest, so a cold build's time is printed.
test-cluster: $(STAMP) cluster-tools image image-load image-gpu
	$(BIN)/pytest tests/image_gpu
	bash scripts/cluster.sh build
	$(BIN)/pytest tests/cluster -p no:randomly

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis
