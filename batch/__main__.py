"""``python -m batch``: the same CLI as ``dimtensor-batch``."""

import sys

from batch.cli import main

sys.exit(main())
