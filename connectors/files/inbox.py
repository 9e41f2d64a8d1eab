"""One inbox file from the folder to its verdict: list, examine, report and move.

Nothing here talks to Kafka nor to the SNE (:mod:`connectors.files.scan` and
:mod:`connectors.files.numbering` do): these steps are the pure file side, unit-tested on
their own. A file is examined where :mod:`connectors.files.claim` put it (the hub's work
folder), so the path read, published and moved designates one and the same file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from connectors.files import layout
from connectors.files.fsutil import move_durably, write_atomic
from connectors.ingress.publishing import Checked, PreparedEvent, check_raw
from connectors.interfacenuu.mapping import parse_demande_xml
from hub.core import xmlsafe
from hub.core.errors import InputError
from hub.core.private import FILE_MODE

log = logging.getLogger(__name__)

PUBLISHED, REJECTED = "published", "rejected"

#: reason codes of the hub's checks renamed in the reports: the reports promise partners
#: ``invalid_input`` for a document breaking the XSD or a field rule (docs/connectors-files.md)
REPORT_REASONS = {"invalid_interfacenuu": "invalid_input"}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to take: ``path`` where it is now (the inbox, or the work folder once
    claimed), ``size`` and ``mtime_ns`` as stat saw it when the pass listed it, and
    ``inbox_name`` the name it was dropped under (None: ``path``'s own name)."""

    path: Path
    size: int
    mtime_ns: int
    inbox_name: str | None = None

    @property
    def name(self) -> str:
        """The name the legacy system gave the file (reports, ``done/`` and ``error/``)."""
        return self.inbox_name or self.path.name


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one file. A valid file (``status`` PUBLISHED) carries ``checked``,
    then ``prepared`` once it is ready to publish (numbered, if it had to be); the other
    fields go to the report."""

    candidate: Candidate
    sha256: str
    status: str
    reason: str | None
    message: str
    checked: Checked | None = None
    prepared: PreparedEvent | None = None

    @property
    def num_unique(self) -> str | None:
        """The demand's numéro unique; None when unknown (rejected, or not numbered yet)."""
        if self.prepared is not None:
            return str(self.prepared.event["numUnique"])
        if self.checked is not None:
            return str(self.checked.event.get("numUnique") or "") or None
        return None


def list_ready(folder: Path, *, settle_s: float, now: float) -> list[Candidate]:
    """The inbox files ready to be taken, oldest first (mtime, then name).

    Ready means: a regular file (symlinks are never followed), a visible ``*.xml`` name, and
    an mtime at least ``settle_s`` old, so a writer still appending in place is left alone.
    """
    ready = []
    for entry in os.scandir(folder):
        if not layout.is_inbox_candidate(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        if now - st.st_mtime >= settle_s:
            ready.append(Candidate(Path(entry.path), st.st_size, st.st_mtime_ns))
    ready.sort(key=lambda c: (c.mtime_ns, c.path.name))
    return ready


def examine(
    candidate: Candidate,
    source: str,
    *,
    max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
    profile: str | None = None,
) -> Outcome | None:
    """Read and check one file, without numbering it (the SNE is asked only when the file
    is about to be published). None if it is not the file listed any more or changed
    while read (size or mtime), or is gone: left for a later pass. Never raises for bad
    content; an unreadable file raises its :class:`OSError`. Symbolic links are not
    followed.

    A file above ``max_bytes`` (``files.max_file_bytes``) is rejected from its size: only
    hashed in chunks, never held in memory; and no more than the listed size + 1 bytes of
    any file are read (a file grown since the listing is left for a later pass).
    ``profile``: the profile of the actor whose inbox it is (:mod:`connectors.files.owner`),
    carried by the event; None for a source that is no actor's."""
    try:
        # non-blocking: a FIFO put in its place must not hang the pass (no effect on files)
        fd = os.open(candidate.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link put in its place: never followed
            return None
        raise  # unreadable (permissions): the operator must see it, nothing is lost
    with os.fdopen(fd, "rb") as fh:
        if _moved(os.fstat(fd), candidate):
            return None
        if candidate.size > max_bytes:
            digest = _sha_of(fh)
            if _moved(os.fstat(fd), candidate):
                return None
            message = f"file is {candidate.size} bytes, above the {max_bytes} bytes cap"
            return Outcome(candidate, digest, REJECTED, "hostile_xml", message)
        data = fh.read(candidate.size + 1)
        if len(data) != candidate.size or _moved(os.fstat(fd), candidate):
            return None
    digest = hashlib.sha256(data).hexdigest()
    try:
        event = parse_demande_xml(data, source=f"files:{source}", max_bytes=max_bytes)
        if profile is not None:  # written from a copy cut to it: the worker keeps the rest
            event["profile"] = profile
        checked = check_raw(event)
    except InputError as exc:
        reason = REPORT_REASONS.get(exc.code, exc.code)
        return Outcome(candidate, digest, REJECTED, reason, exc.message)
    except Exception as exc:  # a bug must not stop the inbox nor lose the file
        log.exception("unexpected error validating an inbox file of source %s", source)
        return internal_error(candidate, digest, exc)
    return Outcome(candidate, digest, PUBLISHED, None, "published to hub.demandes", checked)


def internal_error(candidate: Candidate, digest: str, exc: Exception) -> Outcome:
    """The verdict on a file whose handling hit a bug: rejected, the bug's type named."""
    message = f"unexpected {type(exc).__name__} while validating"
    return Outcome(candidate, digest, REJECTED, "internal_error", message)


def _moved(st: os.stat_result, candidate: Candidate) -> bool:
    """Whether ``st`` is not the regular file of the listing (size and mtime)."""
    return (
        not stat.S_ISREG(st.st_mode)
        or st.st_size != candidate.size
        or st.st_mtime_ns != candidate.mtime_ns
    )


def _sha_of(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def report(outcome: Outcome, source: str, *, now_ms: int) -> dict[str, Any]:
    """The ``<name>.report.json`` content. Names codes and ids only, never personal data."""
    ev = outcome.prepared.event if outcome.prepared else {}
    return {
        "file": outcome.candidate.name,
        "source": source,
        "status": outcome.status,
        "reason": outcome.reason,
        "message": outcome.message,
        "eventId": ev.get("eventId"),
        "numUnique": ev.get("numUnique"),
        "operation": ev.get("operation"),
        "sha256": outcome.sha256,
        "size": outcome.candidate.size,
        "processedAt": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(
            timespec="milliseconds"
        ),
    }


def finish(outcome: Outcome, paths: layout.InboxPaths, *, now_ms: int) -> Path | None:
    """Write the report, then move the file next to it (``done/`` or ``error/``); return
    the file's new path, or None if the file was gone (removed by someone else) — then
    no report is left behind either.

    The file is set to 0600 and its report written 0600 (personal data).
    The move is the commit point: until it happens the file is still in the work folder
    and a replay redoes everything (the report is rewritten atomically, the name is the
    same)."""
    src = outcome.candidate.path
    if not os.path.lexists(src):
        return None
    folder = paths.done if outcome.status == PUBLISHED else paths.error
    name = layout.dest_name(folder, outcome.candidate.name, outcome.sha256)
    body = report(outcome, paths.source, now_ms=now_ms)
    data = json.dumps(body, ensure_ascii=False, indent=2).encode() + b"\n"
    report_path = folder / layout.report_name(name)
    # a report already there is that of the same content (dest_name): never ours to remove
    had_report = report_path.exists()
    write_atomic(folder, report_path.name, data)
    dest = folder / name
    try:
        # owner-only before it lands in done/ or error/ (a file dropped by another
        # account stays as it is: only its owner may change its mode)
        with contextlib.suppress(PermissionError):
            os.chmod(src, FILE_MODE)
        move_durably(src, dest)
    except FileNotFoundError:
        if os.path.lexists(src):
            raise  # not the file that is missing (a folder removed under the hub)
        if not had_report and not os.path.lexists(dest):
            with contextlib.suppress(FileNotFoundError):
                report_path.unlink()  # no orphan report: it would describe no file
        return None
    return dest
