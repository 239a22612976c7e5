"""The reproducible benchmark of issue 5: this server against a bare FastAPI endpoint.

``make bench`` (``python -m bench``) builds a model repository, starts every server
pinned to one core, drives each with wrk pinned to the other, and prints one table.
See docs/performance.md for the method and the numbers of one run.
"""
