"""The worker's cyclic collector: off while the app loads (each full collection would walk
torch's and FastAPI's objects again on the way to the first answer), then the loaded objects
frozen out of its sight and the collector on again for the requests. The hooks are gunicorn's,
run here in order as gunicorn runs them in a new worker."""

from __future__ import annotations

import gc
import runpy
from collections.abc import Iterator

import pytest

from service.__main__ import CONFIG


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the collector as this test process had it."""
    was_enabled = gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def test_the_collector_is_off_while_the_app_loads_and_on_after(collector: None) -> None:
    hooks = runpy.run_path(str(CONFIG))
    gc.enable()
    hooks["post_fork"](None, None)
    assert not gc.isenabled(), "a full collection would walk the loading app's objects"
    loaded = [object() for _ in range(100)]  # what the app loads stays alive
    hooks["post_worker_init"](None)
    assert gc.isenabled(), "requests' cycles must still be collected"
    assert gc.get_freeze_count() >= len(loaded), "the loaded objects are out of its sight"
