"""One inbox file from the folder to its verdict: pick, examine, report and move.

Nothing here talks to Kafka (:mod:`connectors.files.scan` does): these steps are the pure
file side, unit-tested on their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.files import layout
from connectors.files.fsutil import move_durably, write_atomic
from connectors.ingress.publishing import PreparedEvent, prepare_event
from connectors.interfacenuu.mapping import parse_demande_xml
from hub.core import xmlsafe
from hub.core.errors import InputError, TransientError
from hub.core.private import FILE_MODE

log = logging.getLogger(__name__)

PUBLISHED, REJECTED = "published", "rejected"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A visible ``*.xml`` file as stat saw it when the pass listed the inbox."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one file. ``prepared`` is set exactly when ``status`` is PUBLISHED
    (publication still to do); the other fields go to the report."""

    candidate: Candidate
    sha256: str
    status: str
    reason: str | None
    message: str
    prepared: PreparedEvent | None = None

    @property
    def num_unique(self) -> str | None:
        return self.prepared.event["numUnique"] if self.prepared else None


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
    candidate: Candidate, source: str, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES
) -> Outcome | None:
    """Read and validate one file. None if it changed since it was listed (still being
    written, or replaced), or if a creation without number could not be numbered because
    the SNE is unreachable: it is left for a later pass. Never raises for bad content.

    A file above ``max_bytes`` (``files.max_file_bytes``) is rejected from its size: only
    hashed in chunks, never held in memory; and no more than the listed size + 1 bytes of
    any file are read (a file grown since the listing is left for a later pass)."""
    if candidate.size > max_bytes:
        digest = _sha_of_path(candidate.path)
        if digest is None:
            return None
        return Outcome(
            candidate,
            digest,
            REJECTED,
            "hostile_xml",
            f"file is {candidate.size} bytes, above the {max_bytes} bytes cap",
        )
    try:
        with candidate.path.open("rb") as fh:
            data = fh.read(candidate.size + 1)
        st = candidate.path.stat()
    except FileNotFoundError:
        return None
    if (
        len(data) != candidate.size
        or st.st_size != candidate.size
        or st.st_mtime_ns != candidate.mtime_ns
    ):
        return None
    digest = hashlib.sha256(data).hexdigest()
    try:
        event = parse_demande_xml(data, source=f"files:{source}", max_bytes=max_bytes)
        prepared = prepare_event(event)
    except InputError as exc:
        return Outcome(candidate, digest, REJECTED, exc.code, exc.message)
    except TransientError as exc:  # the SNE cannot number a new demand now: a later pass
        log.warning("inbox file of source %s left for a later pass: %s", source, exc.code)
        return None
    except Exception as exc:  # a bug must not stop the inbox nor lose the file
        log.exception("unexpected error validating an inbox file of source %s", source)
        return Outcome(
            candidate,
            digest,
            REJECTED,
            "internal_error",
            f"unexpected {type(exc).__name__} while validating",
        )
    return Outcome(candidate, digest, PUBLISHED, None, "published to hub.demandes", prepared)


def _sha_of_path(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        return None
    return h.hexdigest()


def report(outcome: Outcome, source: str, *, now_ms: int) -> dict[str, Any]:
    """The ``<name>.report.json`` content. Names codes and ids only, never personal data."""
    ev = outcome.prepared.event if outcome.prepared else {}
    return {
        "file": outcome.candidate.path.name,
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


def finish(outcome: Outcome, paths: layout.InboxPaths, *, now_ms: int) -> Path:
    """Write the report, then move the file next to it (``done/`` or ``error/``).

    The file is set to 0600 and its report written 0600 (personal data).
    The move is the commit point: until it happens the file is still in the inbox and a
    replay redoes everything (the report is rewritten atomically, the name is the same).
    Returns the file's new path."""
    folder = paths.done if outcome.status == PUBLISHED else paths.error
    name = layout.dest_name(folder, outcome.candidate.path.name, outcome.sha256)
    body = report(outcome, paths.source, now_ms=now_ms)
    data = json.dumps(body, ensure_ascii=False, indent=2).encode() + b"\n"
    write_atomic(folder, layout.report_name(name), data)
    dest = folder / name
    # owner-only before it lands in done/ or error/ (a file dropped by another account
    # stays as it is: only its owner may change its mode)
    with contextlib.suppress(PermissionError):
        os.chmod(outcome.candidate.path, FILE_MODE)
    move_durably(outcome.candidate.path, dest)
    return dest
