"""The client tests' server, as the tests and its fixture agree on it: the API key it accepts,
its limits, and its model repository.

Limits are set so that each refusal can be met with a small request: unit expressions of at
most 64 characters, at most 50,000 rows, and the default 1 MiB body (which 40,000 rows of
three inputs pass as binary tensors but not as JSON).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from service.models import default_repository_path

KEY = "client-test-key"
MAX_ROWS = 50_000
MAX_UNIT_LENGTH = 64


def repository(root: Path) -> Path:
    """The embedded models, and ``broken`` (a manifest without its signature): known to
    the server, never ready."""
    repo = root / "models"
    shutil.copytree(default_repository_path(), repo)
    broken = repo / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.yaml").write_text("name: broken\nversion: '1'\n")
    return repo
