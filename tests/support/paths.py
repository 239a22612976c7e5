"""Where the tests find the repository they test and the tools it installs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The offline validators, helm and wrk: `bash scripts/install-tools.sh` puts them here.
TOOLS = REPO / ".tools"
