"""Where the CPU build takes torch from: the first folder pip itself would search that holds
``torch-<version>``, in pip's order (TORCH_FIND_LINKS, PIP_FIND_LINKS, then every pip config file,
site, user and PIP_CONFIG_FILE alike); with none and an index that does not answer, the build
fails at once with one line naming where it looked and what to set."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.ports import free_port
from tests.support.images import SCRIPT
from tests.support.paths import REPO

WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def wheel_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / WHEEL).write_bytes(b"")
    return folder


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No pip setting of this user's: a fresh HOME and no PIP_* or TORCH_* variable (the
    machine-wide /etc/pip.conf is still read, as pip reads it; here it holds only a CA)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCH_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.update(extra)
    return env


def write_conf(path: Path, section: str, folder: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[{section}]\nfind-links = {folder}\n")
    return path


Case = Callable[[Path], tuple[dict[str, str], Path | None]]


def torch_find_links_wins(tmp: Path) -> tuple[dict[str, str], Path | None]:
    chosen, other = wheel_folder(tmp, "chosen"), wheel_folder(tmp, "other")
    return clean_env(tmp, TORCH_FIND_LINKS=str(chosen), PIP_FIND_LINKS=str(other)), chosen


def pip_find_links_first_holding_the_wheel(tmp: Path) -> tuple[dict[str, str], Path | None]:
    empty = tmp / "empty"
    empty.mkdir()
    chosen = wheel_folder(tmp, "chosen")
    return clean_env(tmp, PIP_FIND_LINKS=f"{empty} {chosen}"), chosen


def pip_config_file_variable(tmp: Path) -> tuple[dict[str, str], Path | None]:
    chosen = wheel_folder(tmp, "chosen")
    conf = write_conf(tmp / "pip-env.conf", "global", chosen)
    return clean_env(tmp, PIP_CONFIG_FILE=str(conf)), chosen


def user_config_install_section(tmp: Path) -> tuple[dict[str, str], Path | None]:
    chosen = wheel_folder(tmp, "chosen")
    write_conf(tmp / ".config" / "pip" / "pip.conf", "install", chosen)
    return clean_env(tmp), chosen


def no_folder_holds_it(tmp: Path) -> tuple[dict[str, str], Path | None]:
    empty = tmp / "empty"
    empty.mkdir()
    return clean_env(tmp, PIP_FIND_LINKS=str(empty)), None


CASES: list[Case] = [
    torch_find_links_wins,
    pip_find_links_first_holding_the_wheel,
    pip_config_file_variable,
    user_config_install_section,
    no_folder_holds_it,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_the_build_takes_the_wheel_where_pip_would(case: Case, tmp_path: Path) -> None:
    env, expected = case(tmp_path)
    result = subprocess.run(
        ["bash", str(SCRIPT), "torch-wheels"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (str(expected) if expected else "")


def test_no_wheel_and_no_index_fails_at_once_saying_what_to_set(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    index = f"http://127.0.0.1:{free_port()}/whl/cpu"  # nothing listens
    env = clean_env(tmp_path, PIP_FIND_LINKS=str(empty), TORCH_INDEX_URL=index)
    result = subprocess.run(
        ["bash", str(SCRIPT), "build", "cpu"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    # One line, before any engine work (the base image step would have printed its own).
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    for part in ("torch-2.13.0+cpu", "TORCH_FIND_LINKS", "PIP_FIND_LINKS", str(empty), index):
        assert part in line, line
