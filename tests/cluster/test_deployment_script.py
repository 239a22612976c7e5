"""`deploy/test-deployment.sh` as deploy/README documents it, against the project's cluster:
install, rollout, `helm test`, `/predict` through the Service, uninstall. Its extra helm
arguments are the tests' own settings (kube.TEST_VALUES: the imported image, small requests)."""

from __future__ import annotations

import subprocess

import pytest

from tests.cluster.kube import REPO, TEST_VALUES, Cluster

pytestmark = pytest.mark.timeout(900)


def test_the_documented_deployment_script_passes(cluster: Cluster) -> None:
    env = {
        **cluster.env,
        "RELEASE": "e2e",
        "NAMESPACE": "dimtensor-e2e-script",
        "LOCAL_PORT": "18181",
    }
    proc = subprocess.run(
        ["bash", str(REPO / "deploy" / "test-deployment.sh"), *TEST_VALUES],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    assert proc.returncode == 0, (
        f"test-deployment.sh exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    assert "PASS: range = " in proc.stdout
    assert "deployment test passed" in proc.stderr
