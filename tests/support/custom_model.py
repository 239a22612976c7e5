"""examples/custom-model as its tests use it: the package installed into a fresh venv for real,
its train-and-pack script run there, servers of that venv (or of the test's own environment,
without the package), and the physics the packed model was trained on.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from harness.ports import free_port
from harness.server import SERVE, NotReadyError, Server, server_env, serving, start
from service.models.manifest import MANIFEST_FILENAME
from tests.support.paths import REPO
from tests.support.venvs import Venv, make_venv

__all__ = [
    "ARCHITECTURE",
    "DISTRIBUTION",
    "EXAMPLE",
    "MODEL",
    "ORIGIN",
    "cross_wire",
    "ideal",
    "install_example",
    "serve",
    "train_and_pack",
]

EXAMPLE = REPO / "examples" / "custom-model"
_PROJECT = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DISTRIBUTION: str = _PROJECT["name"]
ORIGIN = f"{DISTRIBUTION} {_PROJECT['version']}"
"""What ``GET /v1/models/{m}`` names as the architecture's origin: the distribution and its
version."""
ARCHITECTURE = "spring_mass"
MODEL = "spring"  # the script's default model name


def install_example(root: Path) -> Venv:
    """A venv at `root` with the example installed for real (``pip install --no-deps``)."""
    venv = make_venv(root)
    venv.pip("install", EXAMPLE)
    return venv


def train_and_pack(venv: Venv, repository: Path) -> Path:
    """``train_and_pack.py --repository REPOSITORY`` in `venv`; the folder it prints last."""
    result = venv.run(EXAMPLE / "train_and_pack.py", "--repository", repository, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def ideal(mass_kg: float, stiffness_n_per_m: float, amplitude_m: float) -> dict[str, float]:
    """The ideal spring's energy [J] and period [s], what the model was trained on."""
    return {
        "energy": stiffness_n_per_m * amplitude_m**2 / 2,
        "period": 2 * math.pi * math.sqrt(mass_kg / stiffness_n_per_m),
    }


def cross_wire(version: Path, name: str, **units: str) -> Path:
    """A copy of the packed `version` as model `name` version 1 beside it, with the inputs'
    units replaced by `units` (weights and their digest unchanged); its folder."""
    target = version.parents[1] / name / "1"
    shutil.copytree(version, target)
    path = target / MANIFEST_FILENAME
    manifest: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    manifest["name"] = name
    manifest["version"] = "1"
    for spec in manifest["inputs"]:
        if spec["name"] in units:
            spec["unit"] = units[spec["name"]]
            spec.pop("domain", None)
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return target


@contextmanager
def serve(
    root: Path, repository: Path, *, argv: Sequence[str] = SERVE, workers: int = 1
) -> Iterator[Server]:
    """``argv`` (default: ``python -m service`` of the test's own environment) serving
    `repository` on a free loopback port, its state under `root`; yielded once ready,
    stopped after."""
    port = free_port()
    folder = root / f"server-{port}"
    env = server_env(folder, port, workers=workers, repository=repository)
    server = start(folder, env, argv=argv, log=root / f"server-{port}.log", follow=True)
    try:
        with serving(server, workers=workers) as ready:
            yield ready
    except NotReadyError as e:
        pytest.fail(f"{e}:\n{server.log_text()}")
