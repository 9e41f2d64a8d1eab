"""Inbox passes: files claimed, validated, published in batches with awaited acks, then moved.

Crash safety (no loss, no duplicate), in order of the steps of a batch:

1. files are taken in order — first those claimed at an earlier pass, in claim order,
   then the inbox's, oldest first — each renamed into the work folder before it is read
   (:mod:`connectors.files.claim`: what is moved is what was read). A batch stops before
   a second file of a demand, or a second file of the same bytes, already in it (see
   :mod:`connectors.files.journal` for why);
2. the claims are fsynced; the creations without number are numbered by the SNE, each
   number journaled at once (:mod:`connectors.files.numbering`); the valid files not yet
   in the journal are published and every ack awaited (bounded by
   ``files.publish_timeout_s``); their digests are then appended to the journal, fsynced;
3. each file gets its report, then is renamed into ``done/`` or ``error/``.

A file leaves the work folder only at step 3, after its event is acknowledged: no loss.
A crash before step 2 ends republishes the batch with the same event ids (derived from
the file bytes) and numbers, which the dispatcher skips; after step 2 the journal
prevents republication.

Order: a file that is not the one listed any more or changes while read, or a claimed
file still being written, is left for a later pass, and so is every file after it:
nothing overtakes it, whatever its demand (its content, hence its demand, is not known).

Each file's verdict (step 3) counts one connector call ``connector="files"``, operation
``inbox``: outcome ``ok`` (published, duplicate or recovered) or ``business_error``
(rejected).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from connectors.files import claim, layout, numbering
from connectors.files.fsutil import exclusive_lock
from connectors.files.inbox import PUBLISHED, Candidate, Outcome, examine, finish, list_ready
from connectors.files.journal import Journal
from connectors.files.owner import source_profile
from connectors.ingress.publishing import publish_events
from connectors.shape import ConnectorStats, wait_or_stop
from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, TransientError
from hub.core.private import private_dir
from hub.core.settings import HubSettings
from monitoring import recorder

log = logging.getLogger(__name__)

#: the counts of a pass, in the order :func:`summary` words them
COUNTS = ("published", "rejected", "duplicates", "recovered", "deferred", "vanished")


def summary(stats: ConnectorStats) -> str:
    """One inbox pass in words (``hub files scan``, the watch's log lines)."""
    n = stats.counts
    return (
        f"{n['published']} published, {n['rejected']} rejected, "
        f"{n['duplicates']} identical to a file already published, "
        f"{n['recovered']} recovered after a crash, {n['deferred']} left for later, "
        f"{n['vanished']} removed before the hub could move them"
    )


def sources(settings: HubSettings, only: str | None = None) -> list[layout.InboxPaths]:
    """The configured inboxes (``only``: just that one), folders created."""
    names = list(settings.files.sources)
    if only is not None:
        if only not in names:
            raise ConfigError(f"file source {only!r} is not configured (HUB_FILES__SOURCES)")
        names = [only]
    if not names:
        raise ConfigError("no file source configured: set HUB_FILES__SOURCES, e.g. '[\"erp\"]'")
    out = [layout.inbox_paths(settings, n) for n in names]
    for p in out:
        p.create()
    return out


@dataclass(slots=True)
class _Batch:
    """What :func:`_next_batch` took: outcomes to settle, the next index, and counts."""

    outcomes: list[Outcome] = field(default_factory=list)
    next: int = 0
    claimed: int = 0
    vanished: int = 0
    #: a file had to be left for later: the pass ends after this batch
    stop: bool = False


def _next_batch(pending: list[Candidate], start: int, paths: layout.InboxPaths,
                seq: Iterator[int], size: int, max_bytes: int,
                profile: str | None = None) -> _Batch:  # fmt: skip
    """Claim and examine files from ``pending[start]`` on (claimed ones replace their
    listing in ``pending``), up to ``size`` files of distinct demands and contents; their
    events carry ``profile`` (:mod:`connectors.files.owner`)."""
    batch = _Batch(next=start)
    demands: set[str] = set()
    digests: set[str] = set()
    while batch.next < len(pending) and len(batch.outcomes) < size:
        c = pending[batch.next]
        if c.inbox_name is None:  # still in the inbox: take it under the hub's own name
            taken = claim.claim(c, paths.work, next(seq))
            if taken is None:
                log.warning("inbox %s: %s was removed before the hub took it", paths.source,
                            c.path.name)  # fmt: skip
                batch.vanished += 1
                batch.next += 1
                continue
            c = pending[batch.next] = taken
            batch.claimed += 1
        outcome = examine(c, paths.source, max_bytes=max_bytes, profile=profile)
        if outcome is None and not os.path.lexists(c.path):
            log.warning("inbox %s: %s was removed from the work folder", paths.source, c.name)
            batch.vanished += 1
            batch.next += 1
            continue
        if outcome is None:
            log.info("inbox %s: %s changed while read: it and the files after it wait for "
                     "the next pass", paths.source, c.name)  # fmt: skip
            batch.stop = True
            break
        num = outcome.num_unique
        if (num is not None and num in demands) or outcome.sha256 in digests:
            break  # second file of a demand or same bytes: it opens the next batch
        if num is not None:
            demands.add(num)
        digests.add(outcome.sha256)
        batch.outcomes.append(outcome)
        batch.next += 1
    return batch


async def _publish(settings: HubSettings, outcomes: list[Outcome]) -> None:
    prepared = [o.prepared for o in outcomes if o.prepared is not None]
    try:
        await asyncio.wait_for(
            publish_events(settings, prepared), timeout=settings.files.publish_timeout_s
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TransientError(
            f"publishing inbox files to Kafka failed: {type(exc).__name__}"
        ) from exc


def _kind(o: Outcome, acked: bool, journal: Journal) -> str:
    """Which count a moved file adds to: ``duplicates`` when the event Kafka acknowledged
    for its bytes was another file's (same content dropped twice), ``recovered`` when it
    was its own (acknowledged, then the process stopped before the move)."""
    if o.status != PUBLISHED:
        return "rejected"
    if not acked:
        return "published"
    return (
        "recovered"
        if journal.acked_name(o.sha256) in (o.candidate.path.name, o.candidate.name)
        else "duplicates"
    )


async def _settle(settings: HubSettings, paths: layout.InboxPaths, journal: Journal,
                  sne: numbering.SneState, outcomes: list[Outcome],
                  stats: ConnectorStats) -> None:  # fmt: skip
    """Steps 2 and 3 of the module doc for one batch of examined files."""
    ready: list[tuple[Outcome, bool]] = []
    for o in outcomes:
        acked = o.sha256 in journal
        r = numbering.ready(o, journal, sne, ask=not acked)
        if r is None:
            stats.add(deferred=1)  # the SNE cannot number it now: stays claimed
        else:
            ready.append((r, acked))
    fresh = [o for o, acked in ready if not acked and o.status == PUBLISHED]
    if fresh:
        await _publish(settings, fresh)
        journal.add((o.sha256, o.candidate.path.name) for o in fresh)
    now_ms = int(time.time() * 1000)
    for o, acked in ready:
        kind = _kind(o, acked, journal)
        if kind == "duplicates":
            first = claim.inbox_name(journal.acked_name(o.sha256) or "")
            o = dataclasses.replace(o, message=f"same content as {first}, published once "
                                    "(the same event)")  # fmt: skip
        if not os.path.lexists(o.candidate.path):
            dest = None
        else:
            with recorder.connector_call("files", "inbox") as call:
                if o.status != PUBLISHED:
                    call["outcome"] = "business_error"  # bad input: moved to error/
                dest = finish(o, paths, now_ms=now_ms)
        if dest is None:
            log.warning(
                "inbox %s: %s (%s) was removed before its move: no report",
                paths.source,
                o.candidate.name,
                "acknowledged" if kind != "rejected" else kind,
            )
            stats.add(vanished=1)
            continue
        log.debug("inbox %s: moved to %s/%s", paths.source, dest.parent.name, dest.name)
        stats.add(**{kind: 1})


async def scan_source(settings: HubSettings, paths: layout.InboxPaths) -> ConnectorStats:
    """One pass over one inbox (see the module doc); its stats count the files
    ``published``, ``rejected``, ``duplicates`` (same bytes as a file whose event Kafka
    acknowledged and not yet forgotten: moved without publishing again), ``recovered``
    (acknowledged before a crash, moved without publishing again), ``deferred`` (left for
    a later pass: changed while read, behind such a file, or not numbered because the SNE
    is unreachable) and ``vanished`` (removed by someone else before the hub moved them).
    Raises :class:`TransientError` if Kafka cannot take a batch, or the actor registry
    cannot be read (:mod:`connectors.files.owner`): that batch and the rest stay (claimed
    or in the inbox) for next time."""
    stats = ConnectorStats()
    files = settings.files
    profile = source_profile(settings, paths.source)  # an actor's inbox: its cut (owner.py)
    with exclusive_lock(paths.lock, f"inbox {paths.source!r}"):
        journal = Journal(paths.journal)
        private_dir(paths.work, base=paths.work)  # an inbox created before work folders
        now = time.time()
        pending = claim.list_claimed(paths.work)
        seq = iter(range(claim.next_sequence(paths.work), 1 << 62))
        unsettled = [i for i, c in enumerate(pending) if now - c.mtime_ns / 1e9 < files.settle_s]
        if unsettled:  # still being written in place: it and what follows wait
            stats.add(deferred=len(pending) - unsettled[0])
            del pending[unsettled[0] :]
        else:
            pending += list_ready(paths.folder, settle_s=files.settle_s, now=now)
        journal.compact(_present(paths))
        sne = numbering.SneState()
        start = 0
        while start < len(pending):
            batch = _next_batch(pending, start, paths, seq, files.batch_size,
                                files.max_file_bytes, profile)  # fmt: skip
            start = batch.next
            stats.add(vanished=batch.vanished)
            if batch.claimed:
                claim.sync(paths.folder, paths.work)
            await _settle(settings, paths, journal, sne, batch.outcomes, stats)
            if batch.stop:
                stats.add(deferred=len(pending) - start)
                break
        # moved files need no entry any more: the journal stays empty while idle
        journal.compact(_present(paths))
    stats.succeeded()
    return stats


def _present(paths: layout.InboxPaths) -> set[str]:
    """The names the journal's entries may refer to: the work folder's (and the inbox's,
    for a journal written before files were claimed)."""
    names = set(os.listdir(paths.work))
    return names | {n for n in os.listdir(paths.folder) if layout.is_inbox_candidate(n)}


async def scan(settings: HubSettings, only: str | None = None) -> dict[str, ConnectorStats]:
    """One pass over every configured inbox (``hub files scan``)."""
    return {p.source: await scan_source(settings, p) for p in sources(settings, only)}


class FileInbox:
    """The file inbox connector (``hub files watch``; :class:`connectors.shape.Connector`):
    pass after pass over the inboxes (``only``: just that source) every
    ``files.poll_interval_s`` seconds until ``stop``. A Kafka outage, or a file system
    error of a pass (a folder removed under it, a disk full), is retried after a
    doubling delay from ``max(2 × interval, 1 s)`` capped at 60 s (exact); the files wait
    where they are. ``stats.counts``: the counts of :func:`scan_source`. Metrics: one
    connector call ``files``/``inbox`` per file."""

    name = "files_inbox"
    section = "files"

    def __init__(self, settings: HubSettings, only: str | None = None) -> None:
        self.settings, self.only = settings, only
        self.stats = ConnectorStats()
        interval = settings.files.poll_interval_s
        self.backoff = Backoff(max(2 * interval, 1.0), 60.0, jitter=(1.0, 1.0))

    async def run(self, stop: asyncio.Event) -> None:
        inboxes = sources(self.settings, self.only)
        while not stop.is_set():
            delay = self.settings.files.poll_interval_s
            try:
                for p in inboxes:
                    stats = await scan_source(self.settings, p)
                    n = stats.counts
                    if sum(n[k] for k in COUNTS if k != "deferred"):  # files moved or gone
                        log.info("inbox %s: %s", p.source, summary(stats))
                    self.stats.add(**n)
                self.stats.succeeded()
            except TransientError as exc:
                delay = self.backoff.delay(self.stats.failed(exc))
                log.warning("%s; retrying in %.0f s", exc.message, delay)
            except OSError as exc:  # the files stay where they are: retried, not fatal
                delay = self.backoff.delay(self.stats.failed(exc))
                log.error("inbox pass failed (%s: %s); retrying in %.0f s",
                          type(exc).__name__, exc, delay)  # fmt: skip
            await wait_or_stop(stop, delay)
