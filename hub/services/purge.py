"""The purge job: demands radiated or deleted more than a year ago leave the hub's stores
(a deleted demand's state is the marker a ``SUP`` leaves: hub.domain.decisions).

Stores holding demand data, and what happens to each (docs/reliability.md):

* the dispatch state (faust table ``<app_id>-demande-state``, changelog topic
  ``<app_id>-demande-state-changelog``): the job reads the changelog, picks the demands
  whose state is a radiation or a deletion older than the cut-off, and publishes one
  ``DispatchPurge`` per demand on hub.demandes; the worker re-checks and writes the tombstone
  (:mod:`dispatch.purge`). Compaction then removes the older values from the log;
* **only the demands the worker purged go any further** (audit R, R-F6): the worker keeps
  a demand changed since the scan (a reactivation published before its
  ``DispatchPurge``), and the statistics fold may have folded that change already. So the
  job waits (``worker_wait_s``) until the worker's group has committed past its
  ``DispatchPurge`` records (the worker commits an input only after its changelog record:
  :mod:`dispatch.runtime.tablestore`), reads the changelog again, and goes on with the
  demands it no longer holds (tombstoned). One held and no longer purgeable was kept by
  the worker: dropped, untouched (:attr:`PurgeReport.kept`). One still purgeable (the
  worker had not reached its record) stays pending for the next run
  (:attr:`PurgeReport.waiting`);
* the SQL tables of :data:`SQL_TABLES` (webhook outbox, API holders, cotation
  declarations, snapshot offsets, the SNE poller's last snapshots, the SOAP gateway's
  records owed to Kafka, the gestion partagée record and what of it is owed to Kafka, the
  statistics' facts): rows of the purged demands are deleted here, in one transaction.
  ``gp_events`` is append-only: its rows go through the marked path of migration 0012
  (the demands are written to ``gp_purge_marks``, the only DELETE its trigger lets
  through, and the marks are deleted before the commit);
* the files the hub keeps per demand (:mod:`connectors.files.purge`): the inbox copies
  (``done/``, ``error/``, their reports, the inbox journal's entries of files already
  moved) and the SNE's attestations (``<home>/sne-attestations/``); a file holding also a
  demand still held (a batch document) is kept and listed in the report. An optional
  retention (``files_retention_days``) removes every such file older than that;
* Kafka topics (hub.demandes, feeds, DLQ) age out by their retention, not by this job.

The tables of :data:`KEPT` name demands and stay, each for the reason given there (the
audit keeps ids, never personal data). The registry holds actors only, never demands.
``tests/unit/test_purge_tables.py`` fails when a table of the head schema names a demand
and is in neither list.

Contract: idempotent (running twice purges nothing more), at-least-once (a crash between
publishing and the worker's tombstone is repaired by the next run), and it never touches
a demand that is active or radiated since less than ``older_than_days``, nor any row or
file of a demand the worker did not purge.

Crash-safe: the numéros a run purges are written first to ``<home>/purge-pending.json``
(fsynced; ids only), and the file is removed only once every store went through them.
A run killed midway (or that found an inbox busy) leaves it: the next run finishes those
demands too, even once the worker's tombstones have hidden them from the changelog
(:attr:`PurgeReport.resumed`); a pending demand that the state holds again, active or
radiated since, is dropped from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from sqlalchemy import MetaData, Table, delete, insert

from connectors.files.fsutil import write_atomic
from connectors.files.purge import FilesReport, purge_files
from dispatch.purge import purgeable
from hub.core import topics
from hub.core.errors import ConfigError, TransientError
from hub.core.kafka.admin import committed_offsets
from hub.core.kafka.client import new_producer
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.core.settings import HubSettings
from hub.domain.state import DemandeState
from schemas import get_codec

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: SQL tables whose rows of a purged demand (``num_unique``) are deleted, in this order
#: (``gp_unpublished`` points at ``gp_events``; docs/reliability.md says what each holds)
SQL_TABLES = (
    "webhook_outbox",
    "api_holders",
    "cotation_declarations",
    "api_snapshot_offsets",
    "sne_poll_seen",
    "sne_gateway_unpublished",
    "gp_unpublished",
    "gp_events",
    "stat_demande_epcis",
    "stat_demandes",
)
#: the demands whose ``gp_events`` (append-only) the running purge deletes: the marked path
#: of migration 0012; empty outside the purge's transaction
GP_PURGE_MARKS = "gp_purge_marks"
#: tables naming demands that the purge keeps, and why
KEPT = {
    "audit_deliveries": "ids only (actor, numéro unique, version, codes): the proof of who "
    "received what, append-only and hash-chained (docs/audit.md)",
    "sne_poll_watermarks": "the SNE poller's cursor: an `unread:<numéro>` row names a demand "
    "a pass could not read (count, day, reason code), no snapshot; kept so that the poller "
    "reads it again",
    "sne_sim_demandes": "the SNE simulator's store (demo and tests): it plays the national "
    "system, which keeps its own records; no hub deployment runs it",
    "sne_sim_evenements": "the SNE simulator's events, as sne_sim_demandes",
}


#: the numéros a purge run has not finished (module doc), in the hub's home
PENDING_FILE = "purge-pending.json"


@dataclass(slots=True)
class PurgeReport:
    cutoff_ms: int
    scanned: int = 0
    #: numéros uniques asked to be purged (ids, not personal data)
    purged: list[str] = field(default_factory=list)
    #: numéros of an interrupted run finished by this one (gone from the dispatch state)
    resumed: list[str] = field(default_factory=list)
    #: asked, but changed since the scan: the worker kept them, nothing of them removed
    kept: list[str] = field(default_factory=list)
    #: asked, the worker not at their record within the wait: left for the next run
    waiting: list[str] = field(default_factory=list)
    sql_rows: dict[str, int] = field(default_factory=dict)
    #: files removed (or, in a dry run, to remove), kept, inboxes left for the next run
    files: FilesReport = field(default_factory=FilesReport)
    dry_run: bool = False
    #: the hub's home: the report's paths are written relative to it
    home: Path | None = None

    def __str__(self) -> str:
        rows = ", ".join(f"{t}: {n}" for t, n in self.sql_rows.items()) or "none"
        resumed = (f", {len(self.resumed)} of an interrupted purge finished"
                   if self.resumed else "")  # fmt: skip
        f = self.files
        verb = "to remove" if self.dry_run else "removed"
        # purged: asked less what the worker kept or had not reached (review T, T-F4: the
        # line said every demand asked was purged, with no worker running too)
        done = len(self.purged) - len(self.kept) - len(self.waiting)
        purged = "to purge" if self.dry_run else f"{done} purged"
        out = [f"{self.scanned} demand states scanned, {len(self.purged)} radiated or deleted "
               f"before the cut-off, {purged}{resumed}; SQL rows deleted: {rows}; files {verb}: "
               f"{len(f.removed)} of purged demands, {len(f.expired)} past the retention, "
               f"{len(f.kept)} kept, {f.journal_entries} inbox journal entries"]  # fmt: skip
        if self.kept:
            out.append(f"  {len(self.kept)} changed since the scan: kept by the worker, "
                       "nothing of them removed")  # fmt: skip
        if self.waiting:
            out.append(f"  {len(self.waiting)} not reached by the worker in time: "
                       "left for the next purge")  # fmt: skip
        if self.dry_run:
            out += [f"  would remove {self._rel(p)}" for p in f.removed + f.expired]
        out += [f"  kept {self._rel(k.path)}: {k.why}" for k in f.kept]
        out += [f"  inbox {s!r} busy (a pass held its lock): its files are left for the next "
                "purge" for s in f.busy]  # fmt: skip
        return "\n".join(out)

    def _rel(self, path: Path) -> str:
        if self.home is not None and path.is_relative_to(self.home):
            return str(path.relative_to(self.home))
        return str(path)


@dataclass(frozen=True, slots=True)
class StateScan:
    """What the dispatch state holds: how many keys were read, the numéros purgeable at
    the cut-off, and every demand it holds (a state, purgeable or not)."""

    scanned: int
    purgeable: list[str]
    held: frozenset[str]


def changelog_topic(settings: HubSettings) -> str:
    return f"{settings.worker.app_id}-demande-state-changelog"


async def scan(settings: HubSettings, cutoff_ms: int,
               only: set[str] | None = None) -> tuple[int, list[str]]:  # fmt: skip
    """(states read, numéros uniques purgeable at ``cutoff_ms``) from the changelog."""
    found = await scan_state(settings, cutoff_ms, only)
    return found.scanned, found.purgeable


async def scan_state(settings: HubSettings, cutoff_ms: int,
                     only: set[str] | None = None) -> StateScan:  # fmt: skip
    """The changelog read to its end (:class:`StateScan`); ``only`` restricts the
    purgeable ones, never ``held``."""
    codec = get_codec()
    latest: dict[bytes, bytes | None] = {}
    patience_s = settings.kafka.request_timeout_ms / 1000 * 10
    try:
        async with standalone_consumer(settings, "purge") as consumer:
            topic = changelog_topic(settings)
            async for m in read_to_end(consumer, topic, timeout_s=patience_s):
                # not the dispatch's own records beside the states (territorial
                # index, filters applied: their keys start with a NUL byte)
                if m.key is not None and not m.key.startswith(b"\x00"):
                    latest[m.key] = m.value
    except TransientError:
        raise
    except Exception as exc:  # aiokafka's connection errors have no common base
        raise TransientError(
            f"purge: cannot read the dispatch state: {type(exc).__name__}"
        ) from exc
    found = []
    held = frozenset(k.decode() for k, v in latest.items() if v is not None)
    for key, value in latest.items():
        if value is None or (only is not None and key.decode() not in only):
            continue
        state = DemandeState.from_avro(codec.decode_as(value, "DemandeState"))
        if purgeable(state, cutoff_ms):
            found.append(state.num_unique)
    return StateScan(len(latest), sorted(found), held)


async def request(settings: HubSettings, nums: list[str], cutoff_ms: int) -> dict[int, int]:
    """Publish one ``DispatchPurge`` per numéro unique (acks=all, awaited); the offset of
    the last one per partition of hub.demandes."""
    codec = get_codec()
    producer = new_producer(settings)
    try:
        await producer.start()
        now = int(time.time() * 1000)
        sent = []
        for num in nums:
            value = codec.encode("DispatchPurge", {"purgeId": str(uuid.uuid4()), "issuedAt": now,
                                                   "numUnique": num,
                                                   "radiatedBefore": cutoff_ms})  # fmt: skip
            sent.append(await producer.send(topics.DEMANDES, value, key=num.encode()))
        await producer.flush()
        last: dict[int, int] = {}
        for fut in sent:
            md = await fut
            last[md.partition] = max(md.offset, last.get(md.partition, -1))
        return last
    except Exception as exc:
        raise TransientError(f"purge: cannot publish purge records: {type(exc).__name__}") from exc
    finally:
        await producer.stop()


async def await_worker(settings: HubSettings, last: dict[int, int], timeout_s: float) -> bool:
    """Whether the worker's group committed past ``last`` (partition: offset of hub.demandes)
    within ``timeout_s``, polled every second. Only how long to wait: what the worker did
    is read from its changelog afterwards (module doc)."""
    deadline = time.monotonic() + timeout_s
    group, parts = settings.worker.app_id, sorted(last)
    while True:
        try:
            done = await committed_offsets(settings, group, topics.DEMANDES, parts)
            if all(done[p] > last[p] for p in parts):
                return True
        except (TransientError, KafkaError) as exc:  # the next look, or the changelog read, says
            log.warning("purge: the worker's progress not read (%s)", exc)
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(1.0)


def purge_sql(database_url: str, nums: list[str]) -> dict[str, int]:
    """Delete the rows of ``nums`` from :data:`SQL_TABLES`, in one transaction; rows per
    table. The database is migrated first (:data:`GP_PURGE_MARKS` is of migration 0012)."""
    from hub.core.db import make_engine, migrate, write_transaction

    nums = sorted(set(nums))
    if not nums:
        return {}
    engine = make_engine(database_url)
    try:
        migrate(engine)
        counts: dict[str, int] = {}
        with write_transaction(engine) as conn:
            marks = Table(GP_PURGE_MARKS, MetaData(), autoload_with=conn)
            # a mark left by hand would let its demand's events go: none survives a purge
            conn.execute(delete(marks))
            for i in range(0, len(nums), 500):
                conn.execute(insert(marks), [{"num_unique": n} for n in nums[i : i + 500]])
            for name in SQL_TABLES:
                table = Table(name, MetaData(), autoload_with=conn)
                total = 0
                for i in range(0, len(nums), 500):
                    chunk = nums[i : i + 500]
                    done = conn.execute(delete(table).where(table.c.num_unique.in_(chunk)))
                    total += done.rowcount or 0
                counts[name] = total
            conn.execute(delete(marks))
        if engine.dialect.name == "sqlite" and any(counts.values()):
            _vacuum(engine)
        return counts
    finally:
        engine.dispose()


def _vacuum(engine: Any) -> None:
    """Rewrite a SQLite database after a purge: the rows are overwritten as they go
    (``secure_delete``, :func:`hub.core.db.make_engine`), but free pages left by deletions
    of releases before it still hold what they held (review I, F5); ``VACUUM`` rebuilds
    the file without them. Best effort: a database busy for longer than its timeout is
    said, and vacuumed at the next purge."""
    raw = engine.raw_connection()
    try:
        # the driver's own connection, in autocommit (hub.core.db): VACUUM refuses to run
        # inside a transaction; the checkpoint writes the rebuilt pages over the old ones
        raw.driver_connection.execute("VACUUM")
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as exc:
        log.warning("database not vacuumed after the purge (%s): freed pages may still "
                    "hold purged rows until the next purge", exc)  # fmt: skip
    finally:
        raw.close()


def pending(settings: HubSettings) -> set[str]:
    """The numéros an interrupted run left to finish (module doc)."""
    path = settings.home / PENDING_FILE
    try:
        return {str(n) for n in json.loads(path.read_bytes())["nums"]}
    except FileNotFoundError:
        return set()
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not a list of numéros written by hub purge: "
                          "restore it, or remove it to forget that run") from None  # fmt: skip


def _set_pending(settings: HubSettings, nums: list[str]) -> None:
    home = settings.private_dir(settings.home)
    if nums:
        write_atomic(home, PENDING_FILE, json.dumps({"nums": nums}).encode() + b"\n")
    else:
        (home / PENDING_FILE).unlink(missing_ok=True)


async def run_purge(settings: HubSettings, *, older_than_days: int = 365,
                    now_ms: int | None = None, dry_run: bool = False,
                    only: set[str] | None = None,
                    files_retention_days: float | None = None,
                    lock_wait_s: float = 30.0,
                    worker_wait_s: float = 120.0) -> PurgeReport:  # fmt: skip
    """One purge pass (see the module doc). ``only`` restricts it to those demands (the
    numéros an interrupted run left are finished whatever ``only``);
    ``files_retention_days``: also remove every inbox copy and attestation older than
    that (:mod:`connectors.files.purge`); ``lock_wait_s``: how long to wait for an
    inbox pass to end; ``worker_wait_s``: for the worker to reach the purge's records."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    report = PurgeReport(cutoff_ms=now - older_than_days * DAY_MS, dry_run=dry_run,
                         home=settings.home)  # fmt: skip
    state = await scan_state(settings, report.cutoff_ms, only)
    report.scanned, report.purged = state.scanned, state.purgeable
    left = pending(settings)
    # an interrupted run's demand the state holds again (not purgeable) got an event since
    report.resumed = sorted(left - set(report.purged) - state.held)
    nums = sorted({*report.purged, *report.resumed})
    if not nums and files_retention_days is None:
        if left and not dry_run:
            _set_pending(settings, [])  # only demands that came back: nothing to finish
        return report

    held = state.held

    def files(dry: bool) -> FilesReport:
        return purge_files(settings, nums, held, retention_days=files_retention_days,
                           now=now / 1000, dry_run=dry, lock_wait_s=lock_wait_s)  # fmt: skip

    if dry_run:
        report.files = files(True)
        return report
    if nums:
        _set_pending(settings, nums)  # before any store is touched
    if report.purged:
        last = await request(settings, report.purged, report.cutoff_ms)
        await await_worker(settings, last, worker_wait_s)
        # what the worker did: only the demands it tombstoned go further (module doc)
        after = await scan_state(settings, report.cutoff_ms, set(report.purged))
        held = after.held
        report.waiting = [n for n in report.purged if n in set(after.purgeable)]
        report.kept = sorted((set(report.purged) & held) - set(report.waiting))
        nums = sorted(set(nums) - held)
        _set_pending(settings, sorted({*nums, *report.waiting}))
    if nums:
        report.sql_rows = purge_sql(settings.database_url, nums)
    if nums or files_retention_days is not None:
        report.files = files(False)
    if (nums or left or report.purged) and report.files.complete:
        _set_pending(settings, report.waiting)
    return report
