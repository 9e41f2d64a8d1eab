"""Crash-safe file primitives: what is renamed into place is always complete and durable.

Every file written here is owner-only (0600) and every folder created 0700: DIS files,
reports and journals hold or point at personal data (:mod:`hub.core.private`).
POSIX only (fsync on a directory, ``fcntl`` locks), like the rest of the hub's tooling.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.flock import try_lock
from hub.core.private import FILE_MODE

TMP_SUFFIX = ".tmp"


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (creations, renames) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(name: str) -> str:
    """The hidden temporary name ``name`` is written under before its rename.

    Dot-prefixed and ``.tmp``-suffixed: readers told to skip both never see it."""
    return f".{name}.{os.getpid()}{TMP_SUFFIX}"


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/name`` so that the name never shows a partial content.

    Written to a temporary file of the same folder (same filesystem, so the rename is
    atomic), fsynced, renamed over ``name`` (replacing it if present), then the folder is
    fsynced so the rename survives a power loss. The file is 0600. Returns the final path.
    """
    final = folder / name
    tmp = folder / tmp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a stale temp file of a crashed writer kept its mode
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    fsync_dir(folder)
    return final


def move_durably(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest`` (same filesystem) and fsync both folders."""
    os.replace(src, dest)
    fsync_dir(dest.parent)
    if src.parent != dest.parent:
        fsync_dir(src.parent)


def remove_stale_tmp(folder: Path) -> int:
    """Delete the temporary files a crashed writer left in ``folder``; return how many.

    Call it only while holding the folder's :func:`exclusive_lock`: then no live writer
    owns any of them."""
    removed = 0
    for entry in os.scandir(folder):
        if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` or raise :class:`ConfigError` at once.

    The kernel drops the lock when the process dies (even by ``kill -9``), so a crashed
    holder never blocks its successor."""
    fd = try_lock(path)
    if fd is None:
        raise ConfigError(f"{what} is already being processed by another hub process")
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock
