"""Files that a kill at any moment cannot tear: written under a temporary name, renamed.

One temporary-name rule for every atomic write of the jobs: ``.<final name>.<host>-<pid>-
<token>.tmp`` in the final file's folder (a rename within one file system is atomic). The
leading dot hides it from ``part-*`` globs and a repository scan; host, process and token keep
two writers of one file apart (two pods of one Job index, two ranks); the ``.tmp`` suffix
tells a cleaner what may be removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "atomic_write",
    "commit",
    "fsync_dir",
    "is_temp",
    "remove",
    "sha256_file",
    "temp_glob",
    "temp_path",
]

TEMP_SUFFIX = ".tmp"


def temp_path(final: Path) -> Path:
    """A fresh temporary name for `final`, beside it."""
    token = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    return final.with_name(f".{final.name}.{token}{TEMP_SUFFIX}")


def temp_glob(final_name: str = "*") -> str:
    """The glob of the temporary names of `final_name` (of every file: ``*``)."""
    return f".{final_name}.*{TEMP_SUFFIX}"


def is_temp(path: Path) -> bool:
    """Whether `path` has a temporary name (of any final name)."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename into it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> None:
    """fsync the temporary file, rename it over `final`, fsync the folder."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(final)
    fsync_dir(final.parent)


def remove(tmp: Path) -> None:
    """Remove a temporary file or folder, if it is still there."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path to write `final`'s content to; it becomes `final` when the block
    completes, and is removed when the block raises."""
    tmp = temp_path(final)
    try:
        yield tmp
        commit(tmp, final)
    finally:
        remove(tmp)


def atomic_write(final: Path, data: bytes) -> None:
    """Write `data` to `final` so that a reader sees the old file or the whole new one."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
