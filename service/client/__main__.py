"""``python -m service.client``: the ``dimtensor-serve-client`` command."""

from __future__ import annotations

import sys

from service.client._cli import main

if __name__ == "__main__":
    sys.exit(main())
