"""Owner-only files and folders for what holds personal data (issue 19 point 9).

The hub's home (``HUB_HOME``: registry database, worker state, broker data of the local
stack), the file exchange's folders and files are created readable by their owner only:
folders 0700, files 0600, whatever the process umask (modes are set with ``chmod`` after
creation, since the umask can only remove bits and a umask of 0 would widen ``mkdir``).

Contracts:

* :func:`private_dir` creates missing folders 0700. A folder that already exists keeps its
  mode unless it is ``base`` or below it (a folder the hub owns, such as ``HUB_HOME``):
  the hub never tightens a folder it did not create outside its own tree (``/tmp``, a
  home directory, an operator's shared folder). ``HUB_HOME`` itself gets
  :func:`home_mode` (0700; 0711 as root, for the local stack's PostgreSQL).
* :func:`private_file` creates an empty file 0600 when missing and sets an existing
  one (that the process owns) to 0600.
* :func:`tighten_tree` sets every folder under a root the hub owns to 0700 and every
  file to 0600 (data written before this rule, or by a program with a wider umask);
  symbolic links are neither followed nor changed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def home_mode() -> int:
    """The mode of the hub's home: 0700, but 0711 when the hub runs as root. As root, the
    local stack's PostgreSQL runs as the ``postgres`` user with its data in
    ``<home>/postgres`` (:mod:`hub.dev.stack.postgres`) and must traverse the home; others
    still cannot list it, and everything in it that holds personal data is owner-only."""
    return 0o711 if os.geteuid() == 0 else DIR_MODE


def private_dir(path: Path, *, base: Path | None = None, base_mode: int = DIR_MODE) -> Path:
    """Create ``path`` and its missing parents 0700; set the existing folders below
    ``base`` down to ``path`` to 0700 and ``base`` itself to ``base_mode`` (see the module
    doc). Returns ``path``."""
    path = Path(path)
    missing: list[Path] = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        if cur.parent == cur:
            break
        cur = cur.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)
    if base is not None:
        owned = Path(os.path.abspath(base))
        target = Path(os.path.abspath(path))
        if target == owned or owned in target.parents:
            for folder in (target, *target.parents):
                _chmod_owned(folder, base_mode if folder == owned else DIR_MODE)
                if folder == owned:
                    break
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 when missing, else set it to 0600 (if ours; an
    existing file is never opened for writing here, so a read-only one stays usable)."""
    if not os.path.lexists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        os.close(fd)
    _chmod_owned(path, FILE_MODE)
    return path


def tighten_tree(root: Path) -> None:
    """Folders under ``root`` (included) 0700, files 0600; links left alone."""
    if not root.is_dir() or root.is_symlink():
        return
    _chmod_owned(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            entry = Path(folder, name)
            if not entry.is_symlink():
                _chmod_owned(entry, DIR_MODE)
        for name in files:
            entry = Path(folder, name)
            if not entry.is_symlink():
                _chmod_owned(entry, FILE_MODE)


def _chmod_owned(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` when it differs; a path of another owner (EPERM), on a
    read-only file system, or gone meanwhile is left as it is."""
    with contextlib.suppress(OSError):
        if (path.lstat().st_mode & 0o7777) != mode:
            os.chmod(path, mode)
