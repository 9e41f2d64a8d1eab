"""The hub's one non-blocking file lock (``flock``): the file commands' per-folder locks
(:func:`connectors.files.fsutil.exclusive_lock`) and the SQLite side of the one-deliverer
lock (:class:`hub.core.db_lock.ProcessLock`). The kernel drops it when its holder dies,
even by ``kill -9``, so a crashed holder never blocks its successor."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hub.core.private import FILE_MODE, private_dir


def try_lock(path: Path) -> int | None:
    """Open ``path`` (created owner-only, its folder too) and take its exclusive lock: the
    descriptor to close to release it, or None when another process holds it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
