"""The check pass of ``hub publish`` cut into units, run in this process or in worker
processes, results in input order (issue 21 point 4).

Why: checking an event (parse, Avro encode, business rules, geography) costs hundreds of
microseconds of CPU, the producer a few tens: the check is the bound, and it spreads
over cores when the inputs are cut into independent units.

Contracts:

* :func:`units` cuts the inputs, in the order :func:`connectors.ingress.publishing.iter_inputs`
  reads them, into :class:`JsonSlice` (a byte range of a JSON lines file, about
  :data:`SLICE_BYTES`, cut just after an end of line, with the number of its first
  line), :class:`XmlBatch` (up to :data:`XML_BATCH` XML files) and :class:`Refusal` (a
  file refused as a whole: unsupported type, unreadable). A file of a folder whose name
  does not end in one of :data:`SUFFIXES` is passed over: no unit, only a call of
  ``on_skipped`` (``hub publish`` reports how many). Only one block of
  :data:`_BLOCK` bytes is held while cutting, whatever the lines hold; a line is never
  split, and no slice but a file's first starts with a byte order mark (only line 1 may
  carry one). A ``.json`` file holding one multi-line JSON document is one
  :class:`Refusal` (:func:`connectors.ingress.json_files.document_refusal`), not a
  refusal per line;
* :func:`check_unit` checks every event of a unit exactly as pass 1 always did
  (:func:`connectors.ingress.publishing.check_raw`, locations ``file:line`` or ``file``)
  and returns an :class:`Outcome`: the refusals in order (those of whole files counted
  apart: a file refused as such is no invalid event), the counts, the input bytes,
  and, when ``keep``, the spool entries of the valid events framed in order
  (:mod:`connectors.ingress.spool`);
* :class:`Checker` runs :func:`check_unit` over units, in this process (``jobs`` 1) or
  in ``jobs`` forked worker processes, and yields the outcomes **in the order of the
  units**, with at most ``2 × jobs`` units in flight (memory stays bounded). The
  workers are forked when the checker is entered, before any progress bar thread
  starts, and ignore SIGINT: Ctrl-C reaches the command, which stops them; a worker
  whose command is gone (killed) ends within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import IO, TypeAlias, cast

from connectors.ingress.json_files import document_refusal
from connectors.ingress.publishing import (
    SUFFIXES,
    InputLimits,
    check_raw,
    read_bounded,
    walk_files,
)
from connectors.ingress.spool import READY, frame, frame_pending
from connectors.sne.numbering import needs_number
from hub.core.errors import InputError
from hub.core.jsonlines import read_objects

#: about how many bytes of JSON lines one unit holds (a few hundred events)
SLICE_BYTES = 1 << 20
#: XML files per unit
XML_BATCH = 64
_BLOCK = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class JsonSlice:
    path: str
    start: int
    end: int
    #: number of the slice's first line in its file
    first_line: int


@dataclass(frozen=True, slots=True)
class XmlBatch:
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    where: str
    message: str


Unit: TypeAlias = JsonSlice | XmlBatch | Refusal


@dataclass(slots=True)
class Outcome:
    """What :func:`check_unit` found in one unit."""

    #: (location, message) of each refused event or file, in input order
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: how many of ``refused`` are whole files (unsupported type, unreadable), not events
    files_refused: int = 0
    valid: int = 0
    to_number: int = 0
    #: valid JSON events without an ``eventId`` (the hub gave them a new one)
    ids_given: int = 0
    #: input bytes the unit covers (progress)
    nbytes: int = 0
    #: spool entries of the valid events, framed in order (empty unless ``keep``)
    framed: bytes = b""


def units(paths: Iterable[Path],
          on_skipped: Callable[[Path], None] | None = None) -> Iterator[Unit]:  # fmt: skip
    """The units of ``paths`` in input order (module doc); never raises for a file.
    ``on_skipped(file)``: called for each file of a folder passed over for its name."""
    for path in paths:
        in_folder = path.is_dir()
        batch: list[str] = []
        for f in walk_files(path) if in_folder else iter([path]):
            suffix = f.suffix.lower()
            if suffix == ".xml":
                batch.append(str(f))
                if len(batch) >= XML_BATCH:
                    yield XmlBatch(tuple(batch))
                    batch = []
                continue
            if batch:  # what came before goes first
                yield XmlBatch(tuple(batch))
                batch = []
            if suffix in SUFFIXES:
                refusal = document_refusal(f)  # one line for a pretty-printed .json
                if refusal is not None:
                    yield Refusal(str(f), refusal)
                else:
                    yield from _slices(f)
            elif not in_folder:  # other files in a folder are not ours
                yield Refusal(str(f), f"unsupported file type {suffix or '(none)'}; "
                                      "use .jsonl or .xml")  # fmt: skip
            elif on_skipped is not None:
                on_skipped(f)
        if batch:
            yield XmlBatch(tuple(batch))


def _cut(block: bytes) -> int:
    """Offset just after the last end of line of ``block`` where a slice may end (the next
    line does not open with a byte order mark and its first bytes are in the block);
    -1 when there is none."""
    end = len(block) - len(_BOM)
    while True:
        at = block.rfind(b"\n", 0, end)
        if at < 0:
            return -1
        if block[at + 1 : at + 1 + len(_BOM)] != _BOM:
            return at + 1
        end = at


def _slices(f: Path) -> Iterator[Unit]:
    """The slices of one JSON lines file (module doc)."""
    where = str(f)
    start = pos = 0
    line = 1  # number of the line at ``start``
    lines = 0  # ends of line between ``start`` and ``pos``
    try:
        with f.open("rb") as fh:
            while block := fh.read(_BLOCK):
                cut = _cut(block) if pos + len(block) - start >= SLICE_BYTES else -1
                if cut >= 0:
                    yield JsonSlice(where, start, pos + cut, line)
                    line += lines + block.count(b"\n", 0, cut)
                    start, lines = pos + cut, block.count(b"\n", cut)
                else:
                    lines += block.count(b"\n")
                pos += len(block)
    except OSError as exc:  # unreadable: refused like bad content, the rest goes on
        if pos > start:
            yield JsonSlice(where, start, pos, line)
        yield Refusal(where, f"cannot read the file ({exc.strerror or exc})")
        return
    if pos > start:
        yield JsonSlice(where, start, pos, line)


class _Range:
    """``readline`` of a file from where it stands up to ``left`` bytes further."""

    def __init__(self, fh: IO[bytes], left: int) -> None:
        self.fh, self.left = fh, left

    def readline(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        line = self.fh.readline(self.left if size < 0 else min(size, self.left))
        self.left -= len(line)
        return line


def _raws(unit: Unit, limits: InputLimits, out: Outcome
          ) -> Iterator[tuple[str, dict[str, object] | bytes | InputError]]:  # fmt: skip
    if isinstance(unit, Refusal):
        out.files_refused += 1
        yield unit.where, InputError(unit.message)
    elif isinstance(unit, JsonSlice):
        out.nbytes = unit.end - unit.start
        try:
            with open(unit.path, "rb") as fh:
                fh.seek(unit.start)
                lines = read_objects(cast(IO[bytes], _Range(fh, unit.end - unit.start)),
                                     max_line_bytes=limits.max_line_bytes,
                                     max_depth=limits.max_json_depth)  # fmt: skip
                for n, raw in lines:
                    yield f"{unit.path}:{unit.first_line + n - 1}", raw
        except OSError as exc:
            out.files_refused += 1
            yield unit.path, InputError(f"cannot read the file ({exc.strerror or exc})")
    else:
        for path in unit.paths:
            try:
                document = read_bounded(Path(path), limits.max_file_bytes)
            except OSError as exc:
                out.files_refused += 1
                yield path, InputError(f"cannot read the file ({exc.strerror or exc})")
                continue
            out.nbytes += len(document) if isinstance(document, bytes) else _size(path)
            yield path, document


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def check_unit(unit: Unit, limits: InputLimits, keep: bool) -> Outcome:
    """Check every event of ``unit`` (module doc)."""
    out = Outcome()
    parts: list[bytes] = []
    for where, raw in _raws(unit, limits, out):
        try:
            checked = check_raw(raw, max_xml_bytes=limits.max_file_bytes)
        except InputError as exc:
            out.refused.append((where, exc.message))
            continue
        out.valid += 1
        if type(raw) is dict and "eventId" not in raw:
            out.ids_given += 1
        if needs_number(checked.event):
            out.to_number += 1
            if keep:
                parts.append(frame_pending(where, checked.event, checked.document))
        elif keep:
            parts.append(frame(READY, checked.event["numUnique"].encode(), checked.value))
    out.framed = b"".join(parts)
    return out


def _init_worker(parent: int) -> None:
    """A check worker ignores Ctrl-C (the command stops it) and ends as soon as the
    command is gone, however it ended (SIGTERM, SIGKILL: nothing would stop it else, it
    waits for work on a pipe its sibling holds open)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> int:
    return os.getpid()


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Checker:
    """Runs :func:`check_unit` over units, ``jobs`` at a time (module doc)."""

    def __init__(self, limits: InputLimits, *, jobs: int = 1) -> None:
        self.limits, self.jobs = limits, max(1, jobs)
        self._pool: ProcessPoolExecutor | None = None
        #: the forked workers' pids (stopped at once when the command is interrupted)
        self._workers: list[int] = []

    def __enter__(self) -> Checker:
        if self.jobs > 1:
            from hub.domain.geo import get_geography
            from schemas import get_codec

            get_codec(), get_geography()  # loaded once here, shared by the forked workers
            # frozen objects are left alone by the workers' collections, which would
            # otherwise write to every object's header and unshare the pages holding them
            gc.freeze()
            try:
                self._pool = ProcessPoolExecutor(self.jobs, mp_context=get_context("fork"),
                                                 initializer=_init_worker,
                                                 initargs=(os.getpid(),))  # fmt: skip
                # every worker forked now, before other threads exist
                self._workers = [f.result() for f in
                                 [self._pool.submit(_ready) for _ in range(self.jobs)]]  # fmt: skip
            finally:
                gc.unfreeze()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self._pool is None:
            return
        if kind is not None and not issubclass(kind, Exception):
            # Ctrl-C or a stop: the workers are killed, not waited for (their unit's
            # result is not wanted; a wait could outlast the user's patience)
            for pid in self._workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._pool.shutdown(wait=False, cancel_futures=True)
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def run(self, work: Iterable[Unit], *, keep: bool = True) -> Iterator[Outcome]:
        """The outcome of each unit of ``work``, in order (module doc); ``keep``: frame
        the spool entries of the valid events."""
        pool = self._pool
        if pool is None:
            for unit in work:
                yield check_unit(unit, self.limits, keep)
            return
        pending: deque[Future[Outcome]] = deque()
        try:
            for unit in work:
                pending.append(pool.submit(check_unit, unit, self.limits, keep))
                if len(pending) >= 2 * self.jobs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
