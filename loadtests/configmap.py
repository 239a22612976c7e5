"""Keeps ``deploy/examples/loadtest/locustfile-configmap.yaml`` equal to the locustfile.

``python -m loadtests.configmap`` rewrites the ConfigMap from ``loadtests/locustfile.py``;
with ``--check`` it writes nothing and exits 1 when they differ (``make generate`` runs it,
``tests/test_generated.py`` checks it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from loadtests.local import LOCUSTFILE

__all__ = ["CONFIGMAP", "main", "render"]

ROOT = Path(__file__).resolve().parent.parent
CONFIGMAP = ROOT / "deploy" / "examples" / "loadtest" / "locustfile-configmap.yaml"

HEADER = """\
# The locustfile for the Locust master and workers, generated from loadtests/locustfile.py by
# `python -m loadtests.configmap` (a test keeps them equal). Mounted at /mnt/locust.
apiVersion: v1
kind: ConfigMap
metadata:
  name: dimtensor-locust
  namespace: dimtensor
  labels:
    app.kubernetes.io/name: dimtensor-locust
    app.kubernetes.io/part-of: dimtensor
    app.kubernetes.io/component: loadtest
data:
  locustfile.py: |
"""


def render(source: str) -> str:
    """The ConfigMap's text for a locustfile's source."""
    body = "".join(f"    {line}" if line.strip() else "\n" for line in source.splitlines(True))
    return HEADER + body


def main(argv: Sequence[str] = ()) -> int:
    text = render(LOCUSTFILE.read_text(encoding="utf-8"))
    if "--check" in argv:
        if CONFIGMAP.read_text(encoding="utf-8") != text:
            print(f"{CONFIGMAP} is stale: run `make generate`")
            return 1
        return 0
    CONFIGMAP.write_text(text, encoding="utf-8")
    print(f"wrote {CONFIGMAP}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
