"""Specifications of harness/: ports, process trees, server start and stop, the engine rule."""
