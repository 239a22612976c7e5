"""Reproducible training jobs for the models the server ships (see ``training.default_models``)."""

import service  # noqa: F401 - dimtensor without matplotlib (service/__init__.py)
