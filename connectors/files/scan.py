"""Inbox passes: batches of files validated, published with awaited acks, then moved.

Crash safety (no loss, no duplicate), in order of the steps of a batch:

1. files are examined in inbox order; a batch stops before a second file of a demand
   already in it (see :mod:`connectors.files.journal` for why);
2. the valid files not yet in the journal are published and every ack awaited (bounded by
   ``files.publish_timeout_s``); their digests are then appended to the journal, fsynced;
3. each file gets its report, then is renamed into ``done/`` or ``error/``.

A file leaves the inbox only at step 3, after its event is acknowledged: no loss. A crash
before step 2 ends republishes the batch with the same event ids (derived from the file
bytes), which the dispatcher skips; after step 2 the journal prevents republication.

Each file's verdict (step 3) counts one connector call ``connector="files"``, operation
``inbox``: outcome ``ok`` (published or recovered) or ``business_error`` (rejected).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from aiokafka.errors import KafkaError

from connectors.files import layout
from connectors.files.fsutil import exclusive_lock
from connectors.files.inbox import PUBLISHED, Candidate, Outcome, examine, finish, list_ready
from connectors.files.journal import Journal
from connectors.ingress.publishing import publish_events
from connectors.shape import ConnectorStats, wait_or_stop
from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, TransientError
from hub.core.settings import HubSettings
from monitoring import recorder

log = logging.getLogger(__name__)


def summary(stats: ConnectorStats) -> str:
    """One inbox pass in words (``hub files scan``, the watch's log lines)."""
    n = stats.counts
    return (
        f"{n['published']} published, {n['rejected']} rejected, "
        f"{n['recovered']} recovered after a crash, {n['deferred']} left for later"
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


def _next_batch(
    pending: list[Candidate], start: int, source: str, size: int, max_bytes: int
) -> tuple[list[Outcome], int, int]:
    """Examine files from ``pending[start]`` on; return (batch, next start, skipped)."""
    batch: list[Outcome] = []
    demands: set[str] = set()
    i, skipped = start, 0
    while i < len(pending) and len(batch) < size:
        outcome = examine(pending[i], source, max_bytes=max_bytes)
        if outcome is None:
            skipped += 1  # changed while read: a later pass takes it
        elif outcome.num_unique is not None and outcome.num_unique in demands:
            break  # second file of a demand: it opens the next batch
        else:
            if outcome.num_unique is not None:
                demands.add(outcome.num_unique)
            batch.append(outcome)
        i += 1
    return batch, i, skipped


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


async def scan_source(settings: HubSettings, paths: layout.InboxPaths) -> ConnectorStats:
    """One pass over one inbox (see the module doc); its stats count the files
    ``published``, ``rejected``, ``recovered`` (acknowledged before a crash, moved
    without publishing again) and ``deferred`` (changed while read: next pass). Raises
    :class:`TransientError` if Kafka cannot take a batch: that batch and the rest stay in
    the inbox for next time."""
    stats = ConnectorStats()
    with exclusive_lock(paths.lock, f"inbox {paths.source!r}"):
        journal = Journal(paths.journal)
        pending = list_ready(paths.folder, settle_s=settings.files.settle_s, now=time.time())
        journal.compact({c.path.name for c in pending})
        start = 0
        while start < len(pending):
            batch, start, skipped = _next_batch(
                pending,
                start,
                paths.source,
                settings.files.batch_size,
                settings.files.max_file_bytes,
            )
            stats.add(deferred=skipped)
            fresh = [o for o in batch if o.status == PUBLISHED and o.sha256 not in journal]
            if fresh:
                await _publish(settings, fresh)
                journal.add((o.sha256, o.candidate.path.name) for o in fresh)
            fresh_digests = {o.sha256 for o in fresh}
            now_ms = int(time.time() * 1000)
            for o in batch:
                with recorder.connector_call("files", "inbox") as call:
                    if o.status != PUBLISHED:
                        call["outcome"] = "business_error"  # bad input: moved to error/
                    dest = finish(o, paths, now_ms=now_ms)
                log.debug("inbox %s: moved to %s/%s", paths.source, dest.parent.name, dest.name)
                if o.status != PUBLISHED:
                    stats.add(rejected=1)
                elif o.sha256 in fresh_digests:
                    stats.add(published=1)
                else:
                    stats.add(recovered=1)
        # moved files need no entry any more: the journal stays empty while idle
        journal.compact({n for n in os.listdir(paths.folder) if layout.is_inbox_candidate(n)})
    stats.succeeded()
    return stats


async def scan(settings: HubSettings, only: str | None = None) -> dict[str, ConnectorStats]:
    """One pass over every configured inbox (``hub files scan``)."""
    return {p.source: await scan_source(settings, p) for p in sources(settings, only)}


class FileInbox:
    """The file inbox connector (``hub files watch``; :class:`connectors.shape.Connector`):
    pass after pass over the inboxes (``only``: just that source) every
    ``files.poll_interval_s`` seconds until ``stop``. A Kafka outage is retried after a
    doubling delay from ``max(2 × interval, 1 s)`` capped at 60 s (exact); the files wait
    in their inbox. ``stats.counts``: ``published``, ``rejected``, ``recovered``,
    ``deferred`` files. Metrics: one connector call ``files``/``inbox`` per batch."""

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
                    if n["published"] + n["rejected"] + n["recovered"]:  # files moved
                        log.info("inbox %s: %s", p.source, summary(stats))
                    self.stats.add(**n)
                self.stats.succeeded()
            except TransientError as exc:
                delay = self.backoff.delay(self.stats.failed(exc))
                log.warning("%s; retrying in %.0f s", exc.message, delay)
            await wait_or_stop(stop, delay)
