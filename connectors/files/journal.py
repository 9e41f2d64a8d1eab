"""The inbox journal: what the hub must remember about files not yet moved out of its work
folder: the files Kafka already acknowledged, and the numbers the SNE gave to creations.

Why remember acknowledged files on top of the deterministic event id: the dispatcher
skips a replayed event only while it is the *last* one applied to its demand. If a batch
held a CRE and a MOD of one demand and the process died after their acks but before
moving the files, replaying the CRE would re-apply a stale version. So the digests of
acknowledged files are appended here (and fsynced) right after the acks; a replay moves
those files without publishing them again. What remains is the window between the acks
and this fsync: there the batch is published again, and because a batch never holds two
files of the same demand, each replayed event is still its demand's last one and the
dispatcher skips it by event id.

Why remember numbers: a creation without numéro unique is registered at the SNE
(``getNumUnique``) just before its batch is published. If Kafka then fails, the file
stays, and registering it again at the next pass would make the SNE refuse it as a
DOUBLON of itself. So the number is appended here (fsynced) as soon as the SNE answers,
keyed by the file's SHA-256, and every later attempt publishes under that number.

Format: one JSON object per line, ``{"sha256": ..., "name": ...}`` for an acknowledged
file and ``{"sha256": ..., "name": ..., "step": "numbered", "numUnique": ...}`` for a
number. ``name`` is the file's name in the work folder: :meth:`Journal.compact` forgets
the entries whose file is gone (moved). A torn last line (the process died while
appending) is ignored: an ack is then in the window above, a number is the one case where
the SNE is asked again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connectors.files.fsutil import write_atomic
from hub.core.private import FILE_MODE

NUMBERED = "numbered"


class Journal:
    """Acknowledged digests and SNE numbers of the files still in the work folder (see
    the module doc). ``digest in journal``: that file's event was acknowledged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._acked: dict[str, str] = {}
        self._numbers: dict[str, tuple[str, str]] = {}
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        #: a torn last line must not swallow the next entry appended after it
        self._torn = bool(raw) and not raw.endswith(b"\n")
        for line in raw.splitlines():
            try:
                entry = json.loads(line)
                digest, name = str(entry["sha256"]), str(entry["name"])
                if entry.get("step") == NUMBERED:
                    self._numbers[digest] = (str(entry["numUnique"]), name)
                else:
                    self._acked[digest] = name
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # torn write of a crashed append

    def __contains__(self, digest: str) -> bool:
        return digest in self._acked

    def __len__(self) -> int:
        return len(self._acked)

    def acked_name(self, digest: str) -> str | None:
        """The name of the file whose acknowledgement was recorded for ``digest``."""
        return self._acked.get(digest)

    def number_of(self, digest: str) -> str | None:
        """The numéro unique the SNE gave the file of ``digest``, if recorded."""
        found = self._numbers.get(digest)
        return found[0] if found else None

    def add(self, entries: Iterable[tuple[str, str]]) -> None:
        """Durably record acknowledged ``(sha256, file name)`` pairs (one write, one fsync)."""
        new = [(d, n) for d, n in entries if d not in self._acked]
        if new:
            self._append([{"sha256": d, "name": n} for d, n in new])
            self._acked.update(new)

    def add_number(self, digest: str, name: str, num: str) -> None:
        """Durably record the number the SNE gave the file ``name`` of ``digest``."""
        self._append([{"sha256": digest, "name": name, "step": NUMBERED, "numUnique": num}])
        self._numbers[digest] = (num, name)

    def stale(self, present: set[str]) -> int:
        """How many entries :meth:`compact` would forget (their file is not in ``present``)."""
        return sum(n not in present for n in self._acked.values()) + sum(
            v[1] not in present for v in self._numbers.values()
        )

    def compact(self, present: set[str]) -> None:
        """Forget the entries whose file name is no longer in ``present`` (moved)."""
        acked = {d: n for d, n in self._acked.items() if n in present}
        numbers = {d: v for d, v in self._numbers.items() if v[1] in present}
        if len(acked) == len(self._acked) and len(numbers) == len(self._numbers):
            return
        entries: list[dict[str, Any]] = [
            {"sha256": d, "name": n, "step": NUMBERED, "numUnique": num}
            for d, (num, n) in numbers.items()
        ]
        entries += [{"sha256": d, "name": n} for d, n in acked.items()]
        write_atomic(self.path.parent, self.path.name, _lines(entries))
        self._acked, self._numbers = acked, numbers
        self._torn = False

    def _append(self, entries: list[dict[str, Any]]) -> None:
        data = _lines(entries)
        if self._torn:
            data = b"\n" + data
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._torn = False


def _lines(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in entries)
