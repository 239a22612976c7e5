"""Reproducible training jobs for the models the server ships (see ``training.default_models``)."""
