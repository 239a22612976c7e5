"""The session's cluster: the one `scripts/cluster.sh up` left running, or one brought up for
this session and taken down after it (tests/cluster/kube.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.kube import Cluster, running_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as c:
        yield c
