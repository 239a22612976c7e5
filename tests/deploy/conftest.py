"""The deploy tests' fixtures: the chart rendered once per scenario (presets and
ci/*-values.yaml) and supported Kubernetes version (tests/support/chart.py).

The tools live in <repo>/.tools (``bash scripts/install-tools.sh``); a missing tool fails
the test that needs it, it never skips.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.chart import DEFAULT_KUBE_VERSION, KUBE_VERSIONS, SCENARIOS, Render, render
from tests.support.tools import tool


@pytest.fixture(scope="session")
def renders() -> dict[tuple[str, str], Render]:
    """Every scenario rendered for every supported version, in parallel (helm is ~50 ms)."""
    tool("bin/helm")
    keys = [(s, v) for s in SCENARIOS for v in KUBE_VERSIONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda key: render(*key), keys))
    return {(r.scenario, r.kube_version): r for r in done}


@pytest.fixture(scope="session")
def rendered(renders: dict[tuple[str, str], Render]) -> dict[str, Render]:
    """Every scenario at the default Kubernetes version."""
    return {s: renders[(s, DEFAULT_KUBE_VERSION)] for s in SCENARIOS}
