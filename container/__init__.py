"""The image's one entrypoint: ``dimtensor serve|batch|train ...`` (Dockerfile, Dockerfile.gpu).

Kept apart from the workloads' packages: it only says the device and hands over, so it loads
none of what the workload it hands over to would load again.
"""
