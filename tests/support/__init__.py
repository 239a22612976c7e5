"""Helpers shared by test modules: builders, runners, tables and readers that more than one
test module (or a conftest fixture) needs, one module per topic.

Fixtures and pytest hooks stay in the ``conftest.py`` modules, which may import from here; a
test module imports helpers from here, never from a conftest module or another test module.
"""
