"""``python -m training``: the same CLI as ``dimtensor-train`` (torchrun runs it as a module)."""

import sys

from training.cli import main

sys.exit(main())
