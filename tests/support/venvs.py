"""Virtual environments a test makes and installs a package into for real, as a user would.

A :class:`Venv` is a fresh ``python -m venv`` whose interpreter also sees the test's own
environment (the project's .venv: the server, torch, dimtensor, pip and setuptools) after its
own site-packages, through a ``.pth`` file that adds that folder as a site directory (so its
own ``.pth`` files, the project's editable install among them, are read too). What a test
installs there with pip is seen by that interpreter alone: the test's environment stays as it
was, so the same server can be run with and without the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTALL_SECONDS", "Venv", "make_venv"]

INSTALL_SECONDS = 300  # a bound for venv + pip on a slow day, never a measure of speed
_SHARED = "_project_environment.pth"


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by :func:`make_venv`."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return Path(sysconfig.get_path("purelib", vars={"base": str(self.root)}))

    def argv(self, *args: str | Path) -> list[str]:
        """``python ARGS`` with this environment's interpreter."""
        return [str(self.python), *map(str, args)]

    def run(
        self,
        *args: str | Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = INSTALL_SECONDS,
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` to its end (not checked: callers assert on the outcome)."""
        return subprocess.run(
            self.argv(*args),
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pip(self, command: str, source: Path, *options: str | Path) -> str:
        """``pip COMMAND --no-deps --no-build-isolation --no-index OPTIONS`` of the project
        folder `source`, built from a copy (pip builds in place: the copy keeps build/ and
        *.egg-info out of the checkout); pip's output. AssertionError with it when pip
        fails."""
        copy = self.root.parent / f"{self.root.name}-{command}-{source.name}"
        ignore = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
        shutil.copytree(source, copy, ignore=ignore)
        args = ("--no-deps", "--no-build-isolation", "--no-index", *options)
        result = self.run("-m", "pip", command, *args, copy)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        return output


def make_venv(root: Path, *, shares: Sequence[Path] = ()) -> Venv:
    """A new virtual environment at `root` that also sees `shares` (default: this
    interpreter's site-packages folders), after its own."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)],
        check=True,
        capture_output=True,
        timeout=INSTALL_SECONDS,
    )
    venv = Venv(root)
    folders = list(shares) or _own_site_folders()
    lines = [f"import site; site.addsitedir({str(folder)!r})" for folder in folders]
    (venv.site_packages / _SHARED).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return venv


def _own_site_folders() -> list[Path]:
    purelib, platlib = sysconfig.get_path("purelib"), sysconfig.get_path("platlib")
    return [Path(p) for p in dict.fromkeys((purelib, platlib))]
