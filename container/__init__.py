"""The image's one entrypoint: ``dimtensor serve|batch|train ...`` (Dockerfile, Dockerfile.gpu).

Kept apart from ``service``: importing ``service`` imports dimtensor and so torch (about a
second), which the entrypoint would pay again in every process it hands over to.
"""
