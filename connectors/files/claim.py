"""Taking an inbox file: it is renamed into the hub's work folder before it is read.

Why: a legacy system may rename its next ``export.xml`` over the current one at any time
(docs/connectors-files.md, "Write, then rename"). Had the hub read the file where it was
dropped and moved it by that name once Kafka acknowledged it, it would have moved
whatever the name held by then: the new file, never published. So a file is first
*claimed*: renamed (atomic, within the inbox's filesystem) to
``<inbox>/.hub-work/<sequence>-<name>``, a folder only the hub writes in (0700). From then
on the path the hub reads, publishes and moves designates one file, and a new
``export.xml`` is a new inbox file for a later pass.

The sequence (12 digits) keeps the work folder in claim order: a pass takes the claimed
files first, in that order, then the inbox's (oldest first), so a file left for a later
pass keeps its place before the files listed after it. Only the holder of the inbox's
lock claims, so a fresh sequence number never names an existing file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from connectors.files.fsutil import fsync_dir
from connectors.files.inbox import Candidate

_WORK_NAME = re.compile(r"(\d{12})-(.+)\Z", re.DOTALL)


def work_name(seq: int, name: str) -> str:
    """The name of inbox file ``name`` claimed as number ``seq``."""
    return f"{seq:012d}-{name}"


def inbox_name(name: str) -> str:
    """The inbox name a work folder name was claimed from (``name`` if not a work name)."""
    m = _WORK_NAME.match(name)
    return m.group(2) if m else name


def list_claimed(work: Path) -> list[Candidate]:
    """The files of the work folder, in claim order, stat as now (symbolic links and
    names the hub did not give are left alone)."""
    found = []
    for entry in os.scandir(work):
        m = _WORK_NAME.match(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        found.append(Candidate(Path(entry.path), st.st_size, st.st_mtime_ns, m.group(2)))
    found.sort(key=lambda c: c.path.name)
    return found


def next_sequence(work: Path) -> int:
    """The first sequence number after those of every name of the work folder (files the
    pass leaves alone included: a new claim never reuses a name)."""
    seqs = [int(m.group(1)) for n in os.listdir(work) if (m := _WORK_NAME.match(n))]
    return max(seqs, default=0) + 1


def claim(candidate: Candidate, work: Path, seq: int) -> Candidate | None:
    """Rename the listed inbox file ``candidate`` into ``work`` as number ``seq``; the
    claimed file, still compared with the listing's size and mtime when examined; None if
    the name held no file any more (removed since the listing). Not durable by itself:
    :func:`sync` before anything claimed is published."""
    dest = work / work_name(seq, candidate.path.name)
    try:
        os.rename(candidate.path, dest)
    except FileNotFoundError:
        return None
    return Candidate(dest, candidate.size, candidate.mtime_ns, candidate.path.name)


def sync(inbox: Path, work: Path) -> None:
    """Make the claims done so far durable (both folders' entries): after a power loss a
    published file is never back in the inbox."""
    fsync_dir(work)
    fsync_dir(inbox)
