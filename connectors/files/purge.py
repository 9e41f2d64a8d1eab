"""The files the hub keeps per demand, purged with their demands (``hub purge``).

Two stores hold demand data on disk (docs/reliability.md, "Personal-data hygiene"):

* the **inbox copies**: every file an inbox published or rejected stays in
  ``<root>/inbox/<source>/done/`` or ``error/`` (the whole InterfaceNuu document: names,
  birth dates, addresses), with its ``<name>.report.json``; the inbox journal
  (``<root>/.state/inbox-<source>.journal``) may still name files already moved when a
  pass stopped before it forgot them;
* the **SNE attestations** (``<home>/sne-attestations/``): the PDF the SNE answers a
  registration with (the applicant's name and address).

Contracts of :func:`purge_files`, for the demands ``nums`` the purge purges:

* **Which demands a file holds.** An inbox copy (its document and its report, one entry):
  the report's ``numUnique`` and the ``numUnique`` of every ``demandeLogement`` of the
  document (a batch of several ``interfaceNuu`` documents holds several); a document that
  does not parse (a rejected file) is searched for ``<numUnique>`` elements; a reference
  to another demand (``numUniqueAssocie``, a ``doublon``) does not make the file that
  demand's. An attestation: the numéros in its name and in its text (plain or deflated
  PDF streams, grouped ``DDD MMYY SSSSSS GGGGG`` or not). A numéro is what
  :data:`hub.domain.refdata.NUM_UNIQUE_PATTERNS` accepts.
* **Removed** when the file holds a demand of ``nums`` and every other demand it holds
  is in ``nums`` too or no longer held by the hub (``held``: the demands of the dispatch
  state; one absent was purged earlier or never published). A file holding also a demand
  the hub still holds (a batch document) is **kept** and listed in the report with why;
  it goes with the purge of the last of its demands. A file holding no numéro at all (a
  creation the SNE refused, a file too damaged to tell) is no demand's: only the
  retention removes it. A file the hub cannot read (e.g. another account's that the
  inbox could not make its own) is kept and listed too.
* **Retention** (``retention_days``, off by default): every inbox copy and attestation
  older than that (an inbox copy's age is its report's, i.e. its verdict's; else its
  own mtime) is removed too, whatever demand it holds.
* An inbox is purged under its lock (the one ``hub files watch`` holds during a pass,
  waited for up to ``lock_wait_s``): no pass moves a file into ``done/`` meanwhile. A
  busy inbox is left as it is and named in the report (:attr:`FilesReport.busy`); the
  caller runs the purge again. Under the lock the journal forgets its entries whose file
  left the work folder, as every pass does (:meth:`Journal.compact`): the entries of
  files still waiting keep guarding exactly-once publication and numbering. Files still
  in the inbox or its work folder are input not yet published: never touched.
* **Crash-safe**: idempotent, and a document and its report are removed in the order that
  leaves the remaining one attributable (the document first when the report names the
  demand, a creation numbered by the SNE having no number in its document; else the
  report first); a purge killed midway and run again removes the rest. Folders are
  fsynced before it returns.
* ``dry_run``: nothing is removed, no lock is taken; the report lists what would go.

Nothing here reads a file's personal data beyond the numéros: the report names paths and
counts only. Symbolic links are never followed nor removed. The DIS files of an outbox
are the receiving partner's (it takes them away): not purged here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import zlib
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from connectors.files import layout
from connectors.files.fsutil import exclusive_lock, fsync_dir
from connectors.files.journal import Journal
from connectors.sne.numbering import ATTESTATIONS_DIR
from hub.core import xmlsafe
from hub.core.errors import ConfigError
from hub.core.settings import HubSettings
from hub.core.topics import ACTOR_ID_RE
from hub.domain.refdata import NUM_UNIQUE_PATTERNS

DAY_S = 86_400
#: a numéro anywhere in a name or a text, grouped (``DDD MMYY SSSSSS GGGGG``) or not
_TOKEN = re.compile(
    rb"(?<![0-9A-Za-z])([0-9]{2}[0-9AB]) ?([0-9]{4}) ?([0-9]{6}) ?([0-9A-Z]{5})(?![0-9A-Za-z])"
)
#: a ``numUnique`` element (not ``numUniqueAssocie``) of a document that does not parse
_TAGGED = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?numUnique\b[^>]*>\s*([^<\s]{1,40})\s*</")
_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
#: a file above the inbox's size cap is not parsed: its tags are searched chunk by chunk
_CHUNK = 1 << 20
#: most bytes one deflated PDF stream is inflated to
_INFLATE_MAX = 8 << 20


@dataclass(frozen=True, slots=True)
class Kept:
    """A file the purge kept although it may hold a purged demand, and why (no personal
    data): it also holds a demand still held, or it cannot be read."""

    path: Path
    why: str


@dataclass(slots=True)
class FilesReport:
    """What :func:`purge_files` removed (or would remove, in a dry run)."""

    #: files of the purged demands (inbox documents, their reports, attestations)
    removed: list[Path] = field(default_factory=list)
    #: files older than the retention
    expired: list[Path] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    #: inboxes whose lock a pass held longer than the wait: left for the next purge
    busy: list[str] = field(default_factory=list)
    #: journal entries forgotten (files already moved out of the work folder)
    journal_entries: int = 0

    @property
    def complete(self) -> bool:
        """Whether every store was gone through (no inbox was busy)."""
        return not self.busy


@dataclass(frozen=True, slots=True)
class _Entry:
    """One thing to remove whole: its files in removal order, the demands it holds, its age."""

    members: tuple[Path, ...]
    demands: frozenset[str]
    mtime: float
    #: why a member could not be read (its demands are then unknown: kept)
    unreadable: str | None = None


#: the shape of a numéro without the month check the door makes since session 19: a demand
#: accepted before it (month 00, 13-99) is still found by its files
_ANY_MONTH = re.compile(r"\A[0-9]{2}[0-9AB][0-9]{4}[0-9]{6}[0-9A-Z]{5}\Z")


def is_num_unique(value: str) -> bool:
    """Whether ``value`` may be a demand's numéro: one the door accepts, or one it accepted
    before it checked the month (the purge must find every demand's files)."""
    return bool(_ANY_MONTH.match(value)) or any(
        p.fullmatch(value) for p in NUM_UNIQUE_PATTERNS.values()
    )


def tokens(data: bytes) -> set[str]:
    """The numéros written anywhere in ``data`` (a name, a text)."""
    found = {b"".join(m.groups()).decode() for m in _TOKEN.finditer(data)}
    return {n for n in found if is_num_unique(n)}


def document_demands(data: bytes) -> set[str]:
    """The demands an InterfaceNuu document (or a batch of them) holds: the ``numUnique``
    of each ``demandeLogement``; for a document that does not parse, every
    ``<numUnique>`` element (module doc)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 (read by the door since session 19)
        with contextlib.suppress(UnicodeDecodeError):
            data = data.decode("utf-16").encode()
    try:
        root = xmlsafe.parse(data)
    except Exception:  # refused, malformed or hostile: what its tags say
        return _tagged(data)
    found = set()
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "demandeLogement":
            for child in el:
                if isinstance(child.tag, str) and etree.QName(child).localname == "numUnique":
                    found.add((child.text or "").strip())
    found = {n for n in found if is_num_unique(n)}
    return found or _tagged(data)


def _tagged(data: bytes) -> set[str]:
    found = {m.group(1).decode("ascii", "replace") for m in _TAGGED.finditer(data)}
    return {n for n in found if is_num_unique(n)}


def pdf_demands(data: bytes) -> set[str]:
    """The numéros of a PDF's text: its raw bytes and its deflated streams, inflated."""
    found = tokens(data)
    for m in _PDF_STREAM.finditer(data):
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(m.group(1), _INFLATE_MAX)
        except zlib.error:
            continue
        found |= tokens(text)
    return found


def _file_demands(path: Path, size: int) -> set[str]:
    """The demands of one inbox file (a document, or a report's temporary file)."""
    try:
        with open(path, "rb") as fh:
            if size <= xmlsafe.DEFAULT_MAX_BYTES:
                data = fh.read(xmlsafe.DEFAULT_MAX_BYTES + 1)
                return _report_demands(data) if data.startswith(b"{") else document_demands(data)
            found: set[str] = set()
            tail = b""
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                found |= _tagged(tail + chunk)
                tail = chunk[-256:]
            return found
    except FileNotFoundError:
        return set()


def _report_demands(data: bytes) -> set[str]:
    try:
        num = json.loads(data).get("numUnique")
    except (ValueError, AttributeError):
        return set()
    return {num} if isinstance(num, str) and is_num_unique(num) else set()


def _regular(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            if entry.is_file(follow_symlinks=False):
                yield entry


def inbox_entries(folder: Path) -> list[_Entry]:
    """The copies of ``done/`` or ``error/``: each document with its report (either may
    be missing: a purge or a move stopped midway), and stray temporary files."""
    docs: dict[str, os.DirEntry[str]] = {}
    reports: dict[str, os.DirEntry[str]] = {}
    for entry in _regular(folder):
        name = entry.name
        if name.endswith(layout.REPORT_SUFFIX) and not name.startswith("."):
            reports[name[: -len(layout.REPORT_SUFFIX)]] = entry
        else:
            docs[name] = entry
    out = []
    for name in sorted(docs.keys() | reports.keys()):
        doc, rep = docs.get(name), reports.get(name)
        by_report: set[str] = set()
        by_doc: set[str] = set()
        unreadable = None
        try:
            if rep is not None:
                with contextlib.suppress(FileNotFoundError):
                    by_report = _report_demands(Path(rep.path).read_bytes()[:65536])
            if doc is not None:
                by_doc = _file_demands(Path(doc.path), _size(doc))
        except OSError as exc:  # e.g. a file of another account the hub could not chmod
            unreadable = type(exc).__name__
        first, second = (doc, rep) if by_report else (rep, doc)
        members = tuple(Path(e.path) for e in (first, second) if e is not None)
        demands = frozenset(by_report | by_doc)
        out.append(_Entry(members, demands, _mtime(rep or doc), unreadable))
    return out


def attestation_entries(folder: Path) -> list[_Entry]:
    """The attestations (and temporary files a crashed save left), one entry each: those
    of ``<folder>/<numéro>/`` (where the hub saves them: the folder names the demand,
    whatever the PDF's name and text) and those of ``folder`` itself (releases before),
    whose demand is read from their name and text."""
    out = []
    subfolders: list[os.DirEntry[str]] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        subfolders = [e for e in os.scandir(folder)
                      if e.is_dir(follow_symlinks=False) and is_num_unique(e.name)]  # fmt: skip
    for where, named in [(folder, None), *((Path(e.path), e.name) for e in subfolders)]:
        for entry in sorted(_regular(where), key=lambda e: e.name):
            path = Path(entry.path)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                out.append(_Entry((path,), frozenset(), _mtime(entry), type(exc).__name__))
                continue
            demands = tokens(entry.name.encode()) | pdf_demands(data)
            if named is not None:
                demands = {named}  # the folder says whose it is; nothing else counts
            out.append(_Entry((path,), frozenset(demands), _mtime(entry)))
    return out


def _drop_empty_demand_folders(folder: Path, nums: set[str]) -> None:
    """Remove ``<folder>/<numéro>/`` of the purged demands once empty (the name is the
    demand's numéro)."""
    for num in sorted(nums):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, OSError):
            (folder / num).rmdir()  # refused while not empty: kept with what it holds


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        return 0


def _mtime(entry: os.DirEntry[str] | None) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime if entry is not None else 0.0
    except FileNotFoundError:
        return 0.0


def inboxes(settings: HubSettings) -> list[layout.InboxPaths]:
    """Every inbox with a folder: the configured sources, and the folders of sources no
    longer configured (their copies stay until purged)."""
    names = {s for s in settings.files.sources if ACTOR_ID_RE.match(s)}
    base = layout.root(settings) / "inbox"
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        names |= {e.name for e in os.scandir(base)
                  if e.is_dir(follow_symlinks=False) and ACTOR_ID_RE.match(e.name)}  # fmt: skip
    paths = [layout.inbox_paths(settings, n) for n in sorted(names)]
    return [p for p in paths if p.folder.is_dir()]


class _Purge:
    """One :func:`purge_files` run: the decision on each entry and its removal."""

    def __init__(self, nums: set[str], held: Container[str], *, retention_days: float | None,
                 now: float, dry_run: bool) -> None:  # fmt: skip
        self.nums, self.held = nums, held
        self.too_old = None if retention_days is None else now - retention_days * DAY_S
        self.dry_run = dry_run
        self.report = FilesReport()

    def apply(self, entries: Iterable[_Entry]) -> None:
        touched: set[Path] = set()
        for e in entries:
            if e.unreadable is not None:
                why = f"cannot be read ({e.unreadable}): which demand it holds is unknown"
                self.report.kept += [Kept(p, why) for p in e.members]
                continue
            purged = bool(e.demands & self.nums)
            still = sorted(d for d in e.demands - self.nums if d in self.held)
            if purged and not still:
                target = self.report.removed
            elif self.too_old is not None and e.mtime < self.too_old:
                target = self.report.expired
            else:
                if not e.demands:  # said at every purge: personal data no purge attributes
                    why = ("names no demand the purge can find (name and text); removed "
                           "only by the files retention (--files-retention-days)")  # fmt: skip
                    self.report.kept += [Kept(p, why) for p in e.members]
                if purged:
                    why = (f"also holds {len(still)} demand(s) the hub still holds; removed "
                           "with the purge of the last of them")  # fmt: skip
                    self.report.kept += [Kept(p, why) for p in e.members]
                continue
            for path in e.members:
                if not self.dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    touched.add(path.parent)
                target.append(path)
        for folder in sorted(touched):
            fsync_dir(folder)

    def inbox(self, paths: layout.InboxPaths) -> None:
        for folder in (paths.done, paths.error):
            self.apply(inbox_entries(folder))
        self.report.journal_entries += self._journal(paths)

    def _journal(self, paths: layout.InboxPaths) -> int:
        """Forget the entries of files no longer waiting (what every pass does)."""
        if not paths.journal.exists():
            return 0
        journal = Journal(paths.journal)
        present = _present(paths)
        stale = journal.stale(present)
        if stale and not self.dry_run:
            journal.compact(present)
        return stale


def _present(paths: layout.InboxPaths) -> set[str]:
    """The names journal entries may refer to (as :func:`connectors.files.scan._present`,
    a missing folder holding none)."""
    names: set[str] = set()
    for folder, only_candidates in ((paths.work, False), (paths.folder, True)):
        with contextlib.suppress(FileNotFoundError):
            names |= {n for n in os.listdir(folder)
                      if not only_candidates or layout.is_inbox_candidate(n)}  # fmt: skip
    return names


@contextlib.contextmanager
def _inbox_lock(paths: layout.InboxPaths, wait_s: float) -> Iterator[bool]:
    """Hold the inbox's lock (waiting up to ``wait_s`` for a pass to end): True; False if
    a pass still holds it then."""
    deadline = time.monotonic() + wait_s
    with contextlib.ExitStack() as stack:
        locked = False
        while not locked:
            try:
                stack.enter_context(exclusive_lock(paths.lock, f"inbox {paths.source!r}"))
                locked = True
            except ConfigError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        yield locked


def purge_files(settings: HubSettings, nums: Iterable[str], held: Container[str], *,
                retention_days: float | None = None, now: float | None = None,
                dry_run: bool = False, lock_wait_s: float = 30.0) -> FilesReport:  # fmt: skip
    """Remove the inbox copies and attestations of the demands ``nums`` (module doc);
    ``held``: the demands the hub still holds; ``now``: epoch seconds."""
    run = _Purge(set(nums), held, retention_days=retention_days,
                 now=time.time() if now is None else now, dry_run=dry_run)  # fmt: skip
    for paths in inboxes(settings):
        if dry_run:
            run.inbox(paths)
            continue
        with _inbox_lock(paths, lock_wait_s) as locked:
            if locked:
                run.inbox(paths)
            else:
                run.report.busy.append(paths.source)
    attestations = settings.home / ATTESTATIONS_DIR
    run.apply(attestation_entries(attestations))
    if not dry_run:
        _drop_empty_demand_folders(attestations, run.nums)
    return run.report
