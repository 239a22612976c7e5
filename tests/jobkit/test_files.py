"""Atomic files: a reader sees the old file or the whole new one, never a part; the one
temporary name sits beside the final file, hidden, and is gone after success or failure."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from jobkit.files import (
    atomic_path,
    atomic_write,
    is_temp,
    remove,
    sha256_file,
    temp_glob,
    temp_path,
)


def test_the_temporary_name_rule(tmp_path: Path) -> None:
    final = tmp_path / "part-00003-of-00016.parquet"
    first, second = temp_path(final), temp_path(final)
    assert first.parent == final.parent
    assert first.name.startswith(f".{final.name}.{socket.gethostname()}-{os.getpid()}-")
    assert first.name.endswith(".tmp")
    assert first != second, "two writers of one file in one process get two names"
    assert is_temp(first)
    assert not is_temp(final)
    assert first.match(temp_glob(final.name))
    assert first.match(temp_glob())
    assert not temp_path(tmp_path / "other").match(temp_glob(final.name))


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "record.json"
    final.write_bytes(b"old")
    atomic_write(final, b"new")
    assert final.read_bytes() == b"new"
    assert list(tmp_path.iterdir()) == [final]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    final = tmp_path / "merged.parquet"
    final.write_bytes(b"old")

    def killed_mid_write() -> None:
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        killed_mid_write()
    assert final.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [final]


def test_remove_takes_a_temporary_folder_or_file_or_nothing(tmp_path: Path) -> None:
    folder = temp_path(tmp_path / "step-00000010")
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "state.pt").write_bytes(b"x")
    remove(folder)
    remove(folder)  # already gone: nothing to do
    file = temp_path(tmp_path / "COMMITTED")
    file.write_bytes(b"x")
    remove(file)
    assert list(tmp_path.iterdir()) == []


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"dimtensor" * 1000)
    assert sha256_file(path) == hashlib.sha256(b"dimtensor" * 1000).hexdigest()
