"""The inbox journal: which files Kafka already acknowledged but were not yet moved.

Why a journal on top of the deterministic event id: the dispatcher skips a replayed event
only while it is the *last* one applied to its demand. If a batch held a CRE and a MOD of
one demand and the process died after their acks but before moving the files, replaying
the CRE would re-apply a stale version. So the digests of acknowledged files are appended
here (and fsynced) right after the acks; a replay moves those files without publishing
them again. What remains is the window between the acks and this fsync: there the batch
is published again, and because a batch never holds two files of the same demand, each
replayed event is still its demand's last one and the dispatcher skips it by event id.

Format: one JSON object per line ``{"sha256": ..., "name": ...}``. A torn last line (the
process died while appending) is ignored: its batch is then in the window above.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from connectors.files.fsutil import write_atomic
from hub.core.private import FILE_MODE


class Journal:
    """Digests of acknowledged, not yet moved inbox files (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._acked: dict[str, str] = {}
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        #: a torn last line must not swallow the next entry appended after it
        self._torn = bool(raw) and not raw.endswith(b"\n")
        for line in raw.splitlines():
            try:
                entry = json.loads(line)
                self._acked[str(entry["sha256"])] = str(entry["name"])
            except (ValueError, KeyError, TypeError):
                continue  # torn write of a crashed append

    def __contains__(self, digest: str) -> bool:
        return digest in self._acked

    def __len__(self) -> int:
        return len(self._acked)

    def add(self, entries: Iterable[tuple[str, str]]) -> None:
        """Durably record ``(sha256, file name)`` pairs (one write, one fsync)."""
        new = [(d, n) for d, n in entries if d not in self._acked]
        if not new:
            return
        data = b"".join(json.dumps({"sha256": d, "name": n}).encode() + b"\n" for d, n in new)
        if self._torn:
            data = b"\n" + data
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._torn = False
        self._acked.update(new)

    def compact(self, present: set[str]) -> None:
        """Forget the entries whose file name is no longer in the inbox (moved)."""
        keep = {d: n for d, n in self._acked.items() if n in present}
        if len(keep) == len(self._acked):
            return
        data = b"".join(
            json.dumps({"sha256": d, "name": n}).encode() + b"\n" for d, n in keep.items()
        )
        write_atomic(self.path.parent, self.path.name, data)
        self._acked = keep
        self._torn = False
