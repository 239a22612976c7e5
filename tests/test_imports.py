"""What importing the server costs: the package and what the gunicorn master imports bring
nothing heavy; dimtensor comes without matplotlib (service/__init__.py), which stays
importable for the training job's figures."""

from __future__ import annotations

import subprocess
import sys


def fresh_python(script: str) -> str:
    """What `script` prints in a new interpreter (stripped); a failure shows its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
    assert fresh_python(script) == "ok"


def test_the_client_imports_no_server_and_no_torch_of_its_own() -> None:
    """``service.client`` needs httpx, numpy, orjson and dimtensor: no web framework, no
    process manager, no validation layer. torch comes only because dimtensor imports it
    eagerly when it is installed (the ``import dimtensor`` line alone brings it)."""
    script = (
        "import sys\n"
        "import service, dimtensor\n"  # dimtensor as the server imports it (no matplotlib)
        "from_dimtensor = set(sys.modules)\n"
        "import service.client\n"
        "added = {m.split('.')[0] for m in set(sys.modules) - from_dimtensor}\n"
        "server = {'fastapi', 'starlette', 'pydantic', 'pydantic_core', 'uvicorn', 'gunicorn',\n"
        "          'prometheus_client', 'matplotlib', 'pint', 'torch', 'safetensors'}\n"
        "assert not added & server, sorted(added & server)\n"
        "left = set(sys.modules) & (server - {'torch'})\n"
        "assert not left, sorted(left)\n"
        "assert 'httpx' in added\n"
        "print('torch from dimtensor:', 'torch' in from_dimtensor)\n"
    )
    assert fresh_python(script) == "torch from dimtensor: True"


def test_what_the_gunicorn_master_imports_brings_no_torch_dimtensor_or_numpy() -> None:
    """The master reads its config and loads the worker class and the metrics hooks; it
    never runs a model (``preload_app = False``). tests/server/test_master.py checks the
    running master's memory maps too."""
    script = (
        "import sys, runpy\n"
        "import service, service.worker, service.metrics.multiprocess\n"
        "runpy.run_module('service.gunicorn_conf')\n"
        "heavy = {'torch', 'dimtensor', 'numpy', 'matplotlib', 'safetensors', 'fastapi'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    assert fresh_python(script) == "[]"
