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
  row already present is skipped, so a crash between the two commits, a rebalance or a
  rerun never duplicates a row.
* A feed record that does not decode (never written by the hub) is not lost: it goes to
  ``hub.dlq`` with reason ``undecodable`` before its offset is committed.
* Database and broker outages are :class:`~hub.errors.TransientError`: nothing is committed
  and the batch is read again.
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
from aiokafka.errors import IllegalStateError
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from hub import topics
from hub.audit.store import carries_personal_data
from hub.audit.tables import audit_deliveries
from hub.db import write_transaction
from hub.errors import DecodeError, TransientError
from hub.kafka.client import client_options, new_producer
from hub.settings import HubSettings
from schemas import get_codec

log = logging.getLogger(__name__)

GROUP = "passerelle-audit"
PATTERN = r"^hub\.feed\..+$"
CHANNEL = "kafka"


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


def audit_row(actor_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The audit row of one feed record, or None when it carries no personal data."""
    if not carries_personal_data(record):
        return None
    return {"actor_id": actor_id, "num_unique": record["numUnique"],
            "demande_version": int(record["demandeVersion"]), "channel": CHANNEL,
            "profile": record["profile"], "kind": record["kind"],
            "at": _when(record["dispatchedAt"]), "event_id": record["eventId"]}


def insert_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one transaction; a row already recorded is skipped."""
    if not rows:
        return
    ins = (postgresql.insert(audit_deliveries) if engine.dialect.name == "postgresql"
           else sqlite.insert(audit_deliveries))
    try:
        with write_transaction(engine) as conn:
            conn.execute(ins.values(rows).on_conflict_do_nothing())
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {type(exc.orig).__name__}") from None


class AuditRecorder:
    """Reads the feeds and records their deliveries (see the module doc)."""

    def __init__(self, settings: HubSettings, engine: Engine, *, group: str = GROUP,
                 pattern: str = PATTERN, metadata_max_age_ms: int = 10_000) -> None:
        self.settings = settings
        self.engine = engine
        self.codec = get_codec()
        self.consumer = AIOKafkaConsumer(
            **client_options(settings), group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=metadata_max_age_ms,
            client_id=f"hub-audit-{uuid.uuid4().hex[:8]}")
        self.pattern = pattern
        self.producer: AIOKafkaProducer | None = None
        self.stats = RecordStats()

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
        letter = {"reason": exc.code, "message": exc.message[:1000], "sourceTopic": m.topic,
                  "sourcePartition": m.partition, "sourceOffset": m.offset, "key": m.key,
                  "payload": m.value or b"", "failedAt": int(time.time() * 1000),
                  "attempts": 1, "history": []}
        await asyncio.wait_for(self.producer.send_and_wait(
            topics.DLQ, self.codec.encode("DeadLetter", letter), key=m.key), timeout=30)
        self.stats.dead_lettered += 1

    async def handle(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
                     ) -> None:
        """Record one fetched batch, then commit its offsets (after the database)."""
        rows: list[dict[str, Any]] = []
        for tp, messages in batch.items():
            actor_id = tp.topic[len(topics.FEED_PREFIX):]
            for m in messages:
                self.stats.read += 1
                try:
                    record = self.codec.decode_as(m.value or b"", "FeedRecord")
                except DecodeError as exc:
                    await self._dead_letter(m, exc)
                    continue
                row = audit_row(actor_id, record)
                if row is not None:
                    rows.append(row)
        await asyncio.to_thread(insert_rows, self.engine, rows)
        self.stats.recorded += len(rows)
        offsets = {tp: ms[-1].offset + 1 for tp, ms in batch.items() if ms}
        if offsets:
            await self.consumer.commit(offsets)

    async def run(self, *, once: bool = False, timeout_s: float = 120.0) -> RecordStats:
        """Follow the feeds forever; with ``once``, stop when every assigned partition is
        read to the end it had at start (or ``timeout_s`` passes waiting for that)."""
        ends: dict[TopicPartition, int] | None = None
        deadline = time.monotonic() + timeout_s
        if once and not await self._any_topic():
            return self.stats  # nothing matches the pattern: nothing to record
        while True:
            batch = await self.consumer.getmany(timeout_ms=500, max_records=2000)
            if batch:
                await self.handle(batch)
            if not once:
                continue
            assigned: Sequence[TopicPartition] = list(self.consumer.assignment())
            if assigned and ends is None:
                ends = await self.consumer.end_offsets(list(assigned))
            if ends is not None and await self._caught_up(ends):
                return self.stats
            if time.monotonic() > deadline:
                raise TransientError("audit recorder: feeds not read to their end in time")

    async def _any_topic(self) -> bool:
        metadata = await self.consumer._client.fetch_all_metadata()
        return any(re.match(self.pattern, t) for t in metadata.topics())

    async def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await self._position(tp) < end:
                return False
        return True

    async def _position(self, tp: TopicPartition) -> int:
        try:
            return int(await self.consumer.position(tp))
        except IllegalStateError:  # partition moved to another member of the group: not ours
            log.info("partition %s no longer assigned", tp)
            return 1 << 62
