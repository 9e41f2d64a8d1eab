"""The spool of ``hub publish``: the records its check pass encoded, kept on disk until
the send pass reads them back (issue 21 point 4).

Why: the all-or-nothing rule needs every event checked before the first is sent, and
checking means encoding. Keeping what the check encoded (key and value, in input order)
lets the send pass read a file and hand the producer ready records, instead of reading,
parsing, checking and encoding the inputs a second time; an input changed between the
passes is then irrelevant (what is sent is what was checked).

Contracts:

* :class:`Spool` is a file **without a name** in the hub's private temp area
  (:func:`spool_dir`: ``<home>/tmp``, 0700; the file 0600): ``tempfile.TemporaryFile``,
  so nothing is left on disk whatever ends the command (an error, Ctrl-C, SIGKILL); the
  space is given back when :meth:`Spool.close` runs or the process ends;
* :meth:`Spool.write` appends framed entries (:func:`frame`); :meth:`Spool.entries`
  reads them back in the order written, one at a time (memory: one entry and the read
  buffer), and may be called again (each call starts from the first entry);
* an entry is a :data:`READY` record (the key and value sent as they are) or a
  :data:`TO_NUMBER` creation the SNE must number first: its ``extra`` holds the location,
  the checked event and the XML document (pickled: the spool is written and read by the
  same command, in a file nobody else can open);
* a spool cut short or altered reads as :class:`hub.core.errors.InputError`, never as
  garbage records; a write that fails (disk full) is a :class:`TransientError` naming the
  temp area.

Frame: kind (1 byte), then the lengths of key, value and extra (3 × 4 bytes, little
endian), then the three byte strings. The hub sends no record headers from ``hub
publish``, so none are framed.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from hub.core.errors import InputError, TransientError
from hub.core.settings import HubSettings

#: the record as checked: key and value go to the producer unchanged
READY = 0
#: a creation without numéro unique: numbered by the SNE in the send pass
TO_NUMBER = 1
_HEAD = struct.Struct("<BIII")
#: read buffer of :meth:`Spool.entries` (large reads: a few system calls per MiB)
_BUFFER = 1 << 20
#: name of the hub's private temp area under its home
TMP_NAME = "tmp"


@dataclass(frozen=True, slots=True)
class Entry:
    """One spooled event (module doc)."""

    kind: int
    key: bytes
    value: bytes
    extra: bytes = b""

    @property
    def size(self) -> int:
        """Bytes the entry takes in the spool."""
        return _HEAD.size + len(self.key) + len(self.value) + len(self.extra)

    def pending(self) -> tuple[str, dict[str, Any], bytes | None]:
        """(location, event, XML document or None) of a :data:`TO_NUMBER` entry."""
        where, event, document = pickle.loads(self.extra)  # our own nameless file
        return where, event, document


def frame(kind: int, key: bytes, value: bytes, extra: bytes = b"") -> bytes:
    """The bytes of one entry (module doc)."""
    return _HEAD.pack(kind, len(key), len(value), len(extra)) + key + value + extra


def frame_pending(where: str, event: dict[str, Any], document: bytes | None) -> bytes:
    """The entry of a creation the SNE must number (module doc)."""
    extra = pickle.dumps((where, event, document), protocol=pickle.HIGHEST_PROTOCOL)
    return frame(TO_NUMBER, b"", b"", extra)


def spool_dir(settings: HubSettings) -> Path:
    """The hub's private temp area, ``<home>/tmp``, created owner-only (0700)."""
    return settings.private_dir(settings.home / TMP_NAME)


class Spool:
    """A nameless spool file in ``folder`` (module doc); a context manager that closes it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries_written = 0
        self.bytes_written = 0
        try:
            self._fh: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close)
                mode="w+b", buffering=_BUFFER, dir=folder, prefix="publish-spool-"
            )
        except OSError as exc:
            raise TransientError(
                f"cannot create the publish spool in {folder}: {exc.strerror or exc}"
            ) from None

    def write(self, framed: bytes, count: int) -> None:
        """Append ``count`` entries already framed (:func:`frame`) as one byte string."""
        try:
            self._fh.write(framed)
        except OSError as exc:  # disk full: one line, the spool is dropped by the caller
            raise TransientError(
                f"cannot write the publish spool in {self.folder}: {exc.strerror or exc}"
            ) from None
        self.entries_written += count
        self.bytes_written += len(framed)

    def entries(self) -> Iterator[Entry]:
        """Every entry in the order written (module doc)."""
        fh = self._fh
        fh.flush()
        fh.seek(0)
        read = 0
        for _ in range(self.entries_written):
            head = fh.read(_HEAD.size)
            if len(head) != _HEAD.size:
                raise InputError("the publish spool is cut short", code="spool_corrupt")
            kind, nk, nv, ne = _HEAD.unpack(head)
            body = fh.read(nk + nv + ne)
            if kind not in (READY, TO_NUMBER) or len(body) != nk + nv + ne:
                raise InputError("the publish spool is corrupt", code="spool_corrupt")
            read += _HEAD.size + len(body)
            yield Entry(kind, body[:nk], body[nk : nk + nv], body[nk + nv :])
        if read != self.bytes_written:
            raise InputError("the publish spool holds more than was written",
                             code="spool_corrupt")  # fmt: skip

    def close(self) -> None:
        """Give the space back (idempotent)."""
        self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
