"""What importing the server costs: dimtensor comes without matplotlib (service/__init__.py),
which stays importable for the training job's figures."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_does_not_import_matplotlib_but_training_can() -> None:
    script = (
        "import sys\n"
        "import service.rest.app, batch.cli\n"
        "assert 'dimtensor' in sys.modules\n"
        "assert 'matplotlib' not in sys.modules, 'dimtensor imported matplotlib'\n"
        "import training.plots\n"
        "assert 'matplotlib.pyplot' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
