"""``hub audit record``: the audit of deliveries on the Kafka feeds, kept off the dispatch path.

The dispatch worker writes ``hub.feed.<actor>`` and touches no database (its hot path stays
Kafka-only). This recorder reads every feed topic (pattern subscription, consumer group
``passerelle-audit`` by default) and inserts one ``audit_deliveries`` row (channel
``kafka``) per record that carries personal data (``demande`` not null): actor, numéro
unique, demand version, profile applied, record kind, time = ``dispatchedAt`` (when the
record was put on the actor's feed) and the source ``eventId``.

Contracts:

* At-least-once reading, exactly-once rows: offsets are committed only after the rows'
  database transaction committed; rows are keyed by (eventId, kind, actor, channel) and a
  row already present is skipped (rows enter the hash chain of :mod:`hub.stores.audit.chain`),
  so a crash between the two commits, a rebalance or a rerun never duplicates a row.
* A feed record that does not decode (never written by the hub) is not lost: it goes to
  ``hub.dlq`` with its reason (``undecodable``...) before its offset is committed, and a
  warning names the feed and the offset.
* A feed record whose writer schema this process cannot resolve (a schema registry that
  answers 404 for its id, an empty ``HUB_REGISTRY__URL``, a newer release's FeedRecord:
  ``unknown_schema``) is a deployment problem, not bad input: it is never dead-lettered
  and no record after it is skipped. Its partition stops there (rows before it recorded,
  offsets committed up to it, the partition paused) with one error line naming the feed,
  the offset and what to fix (:mod:`hub.stores.audit.stops`), said again every few minutes
  while it lasts; the long-running recorder asks again with the hub's back-off (up to a
  minute) and resumes that partition, with a line, once the schema resolves; the other
  feeds go on meanwhile. ``--once`` records every other feed to its end, then fails with
  that line (:class:`~hub.core.errors.ConfigError`).
* Database and broker outages are :class:`~hub.core.errors.TransientError`: nothing is committed,
  the batch's partitions are rewound, and the long-running recorder reads the batch again
  after :data:`RETRY_S` (``--once`` exits with the one-line error instead).
* ``stats.recorded`` counts the rows actually inserted (a rerun over recorded deliveries
  reports 0).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.db import write_transaction
from hub.core.errors import ConfigError, DecodeError, TransientError
from hub.core.kafka.client import client_options, new_producer
from hub.core.kafka.feed_holds import FeedHolds
from hub.core.settings import HubSettings
from hub.stores.audit import chain
from hub.stores.audit.stops import AUDIT, REMIND_S, STOP_BACKOFF, Stops, is_unresolved
from hub.stores.audit.store import carries_personal_data, row_of
from schemas import get_codec

log = logging.getLogger(__name__)

GROUP = "passerelle-audit"
PATTERN = r"^hub\.feed\..+$"
CHANNEL = "kafka"
#: pause of the long-running recorder after a database or DLQ outage
RETRY_S = 5.0

#: a record a partition stops at, and why
Stopped = tuple[ConsumerRecord[bytes, bytes], DecodeError]


@dataclass
class RecordStats:
    read: int = 0
    recorded: int = 0
    dead_lettered: int = 0


def _when(value: Any) -> datetime:
    # the codec gives timestamp-millis as an aware datetime or as epoch millis
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def audit_row(
    actor_id: str, record: dict[str, Any], *, channel: str = CHANNEL, at: datetime | None = None
) -> dict[str, Any] | None:
    """The audit row of one feed record delivered to ``actor_id`` through ``channel``, or
    None when it carries no personal data. ``at`` defaults to the record's
    ``dispatchedAt`` (the delivery time of the Kafka feed itself)."""
    if not carries_personal_data(record):
        return None
    when = at if at is not None else _when(record["dispatchedAt"])
    return row_of(actor_id, channel, record, when, record["eventId"])


def insert_rows(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Append ``rows`` to the audit chain in one transaction; a delivery already recorded
    (same event id, kind, actor, channel) is skipped. Returns the rows actually inserted.
    A database outage is a :class:`TransientError` (nothing was inserted)."""
    if not rows:
        return 0
    try:
        with write_transaction(engine) as conn:
            return chain.append(conn, rows)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {type(exc.orig).__name__}") from None


class AuditRecorder:
    """Reads the feeds and records their deliveries (see the module doc)."""

    def __init__(
        self,
        settings: HubSettings,
        engine: Engine,
        *,
        group: str = GROUP,
        pattern: str = PATTERN,
        metadata_max_age_ms: int = 10_000,
        stop_backoff: Backoff = STOP_BACKOFF,
        remind_s: float = REMIND_S,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.codec = get_codec()
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=metadata_max_age_ms,
            client_id=f"hub-audit-{uuid.uuid4().hex[:8]}",
        )
        self.pattern = pattern
        self.producer: AIOKafkaProducer | None = None
        self.stats = RecordStats()
        #: partitions stopped at a record whose writer schema cannot be resolved
        self.stops = Stops(backoff=stop_backoff, remind_s=remind_s)
        self.holds = FeedHolds(settings, AUDIT, log, self.stops)

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(pattern=self.pattern)

    async def stop(self) -> None:
        await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    async def _dead_letter(self, m: ConsumerRecord[bytes, bytes], exc: DecodeError) -> None:
        if self.producer is None:
            self.producer = new_producer(self.settings)
            await self.producer.start()
        letter = {
            "reason": exc.code,
            "message": exc.message[:1000],
            "sourceTopic": m.topic,
            "sourcePartition": m.partition,
            "sourceOffset": m.offset,
            "key": m.key,
            "payload": m.value or b"",
            "failedAt": int(time.time() * 1000),
            "attempts": 1,
            "history": [],
        }
        try:
            await asyncio.wait_for(
                self.producer.send_and_wait(
                    topics.DLQ, self.codec.encode("DeadLetter", letter), key=m.key
                ),
                timeout=30,
            )
        except (KafkaError, TimeoutError) as e:
            raise TransientError(f"hub.dlq unavailable: {type(e).__name__}") from None
        self.stats.dead_lettered += 1
        log.warning("audit of %s: offset %d does not decode (%s): dead-lettered to %s, "
                    "no audit row", m.topic, m.offset, exc.code, topics.DLQ)  # fmt: skip

    async def handle(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Record one fetched batch, then commit its offsets (after the database). On a
        :class:`TransientError` the batch's partitions are rewound to read it again. A
        partition stopped at a record whose schema cannot be resolved is committed up to
        that record, rewound to it and paused (see the module doc)."""
        try:
            rows, stopped = await self._rows(batch)
            self.stats.recorded += await asyncio.to_thread(insert_rows, self.engine, rows)
        except TransientError:
            for tp, ms in batch.items():
                if ms:
                    self.consumer.seek(tp, ms[0].offset)
            raise
        offsets = {tp: ms[-1].offset + 1 for tp, ms in batch.items() if ms}
        for tp, (m, exc) in stopped.items():
            offsets[tp] = m.offset  # the rows before it are in: nothing past it
            self._stop(tp, m, exc)
        try:
            if offsets:
                await self.consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance: the new owner re-reads, rows dedup
            log.warning("audit offsets not committed: %s", type(exc).__name__)

    def _stop(self, tp: TopicPartition, m: ConsumerRecord[bytes, bytes], exc: DecodeError) -> None:
        self.holds.hold(self.consumer, tp, m.offset, m.value or b"", exc)

    async def _rows(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> tuple[list[dict[str, Any]], dict[TopicPartition, Stopped]]:
        """The audit rows of ``batch``, and per partition the record it stops at (its
        writer schema cannot be resolved: nothing after it is read)."""
        rows: list[dict[str, Any]] = []
        stopped: dict[TopicPartition, Stopped] = {}
        for tp, messages in batch.items():
            actor_id = tp.topic[len(topics.FEED_PREFIX) :]
            for m in messages:
                try:
                    record = self.codec.decode_as(m.value or b"", "FeedRecord")
                except DecodeError as exc:
                    if is_unresolved(exc):
                        stopped[tp] = (m, exc)
                        break
                    self.stats.read += 1
                    await self._dead_letter(m, exc)
                    continue
                self.stats.read += 1
                row = audit_row(actor_id, record)
                if row is not None:
                    rows.append(row)
        return rows, stopped

    async def _retry_stops(self) -> None:
        """Ask again for the schema of each stopped partition due for a try (one question
        per schema id or fingerprint); resume those that resolve now
        (:meth:`hub.core.kafka.feed_holds.FeedHolds.retry`)."""
        await self.holds.retry(self.consumer)

    async def run(self, *, once: bool = False, timeout_s: float = 120.0) -> RecordStats:
        """Follow the feeds forever; with ``once``, stop when every assigned partition is
        read to the end it had at start (or ``timeout_s`` passes waiting for that)."""
        ends: dict[TopicPartition, int] | None = None
        deadline = time.monotonic() + timeout_s
        if once and not await self._any_topic():
            return self.stats  # nothing matches the pattern: nothing to record
        while True:
            if not once:
                await self._retry_stops()
            batch = await self.consumer.getmany(timeout_ms=500, max_records=2000)
            if batch:
                try:
                    await self.handle(batch)
                except TransientError as exc:
                    if once:
                        raise
                    log.warning("audit recorder: %s; retrying in %.0f s", exc.message, RETRY_S)
                    await asyncio.sleep(RETRY_S)
                    continue
            if not once:
                continue
            assigned: Sequence[TopicPartition] = list(self.consumer.assignment())
            if assigned and ends is None:
                ends = await self.consumer.end_offsets(list(assigned))
            if ends is not None and await self._caught_up(ends):
                if self.stops:  # every other feed is recorded to its end
                    raise ConfigError(self.stops.summary(), code="unknown_schema")
                return self.stats
            if time.monotonic() > deadline:
                raise TransientError("audit recorder: feeds not read to their end in time")

    async def _any_topic(self) -> bool:
        metadata = await self.consumer._client.fetch_all_metadata()
        return any(re.match(self.pattern, t) for t in metadata.topics())

    async def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if tp not in self.stops and await self._position(tp) < end:
                return False
        return True

    async def _position(self, tp: TopicPartition) -> int:
        try:
            return int(await self.consumer.position(tp))
        except IllegalStateError:  # partition moved to another member of the group: not ours
            log.info("partition %s no longer assigned", tp)
            return 1 << 62
