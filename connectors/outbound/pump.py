"""The feed pump of ``hub deliver``: one Kafka consumer copying every push actor's feed
into the outbox (issue 22 point 4).

Contracts:

* one consumer (no group, nothing committed: the outbox is the position) follows the
  single-partition feed ``hub.feed.<actor>`` of every actor named to :meth:`FeedPump.follow`,
  each from the outbox's next offset (one past the last record copied);
* :meth:`FeedPump.poll` copies what it fetched, one database transaction per actor and
  fetch (``(actor, offset)`` is unique: a record copied twice is kept once), and returns
  the records copied per actor, so the caller wakes those actors' senders. If a copy
  fails (database outage) the fetched partitions are rewound to their first fetched
  offset and the error is raised: nothing is skipped;
* an actor whose feed topic does not exist yet is followed as soon as it appears (the
  next :meth:`follow` after it was created);
* each record is copied as the dispatcher cut it (canonical JSON,
  :func:`connectors.outbound.recut.record_body`): the sender cuts it again to the actor's
  profile when it sends it (:meth:`connectors.outbound.push.PushChannel.send_due`), so a
  profile lowered while records wait in the outbox applies to them;
* a feed record whose writer schema this process cannot resolve (``unknown_schema``: a
  schema registry answering 404 for its id, an empty ``HUB_REGISTRY__URL``, a newer
  release's FeedRecord) is a deployment problem, not bad input: that actor's copy stops
  at the record (nothing after it copied, nothing skipped) with one error line naming the
  feed, the offset and what to fix (:func:`hub.core.kafka.feed_stops.stop_line`, said
  again every 5 min), and each :meth:`FeedPump.poll` asks again with the hub's back-off
  (5 s doubling to 60 s) and resumes it at that record, with a line, once it resolves
  (:class:`hub.core.kafka.feed_holds.FeedHolds`); the gauge
  ``passerelle_outbox_feeds_stopped{channel="push"}`` counts the actors held;
* a feed record that does not decode at all (never written by the hub) stops that
  actor's copy, not tried again (its partition is paused and the error logged);
* either way the other actors go on.

Unlike :meth:`connectors.outbound.push.PushChannel.pump` (one short-lived consumer per page and
actor, for ``--once``), the cost does not grow with the number of idle actors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from connectors.outbound.recut import record_body
from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.errors import DecodeError, TransientError
from hub.core.kafka.client import client_options
from hub.core.kafka.feed_holds import FeedHolds
from hub.core.kafka.feed_stops import STOP_BACKOFF, Reader, Stops, is_unresolved
from hub.core.settings import HubSettings
from hub.stores.delivery.outbox import Outbox
from monitoring import recorder
from schemas import get_codec

log = logging.getLogger(__name__)
#: the pump's words in its stop lines
COPY = Reader(what="copy of", command="hub deliver", done="copied into the outbox")

#: a feed record that does not decode, and why
Bad = tuple[ConsumerRecord[bytes, bytes], DecodeError]


def _gauge(count: int) -> None:
    recorder.outbox_feeds_stopped("push", count)


class FeedPump:
    """See the module doc. Call :meth:`stop` when done."""

    def __init__(
        self,
        settings: HubSettings,
        outbox: Outbox,
        *,
        max_records: int = 2000,
        stop_backoff: Backoff = STOP_BACKOFF,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.max_records = max_records
        self.codec = get_codec()
        self.consumer: AIOKafkaConsumer | None = None
        #: actors whose feed is assigned
        self.following: frozenset[str] = frozenset()
        self._wanted: frozenset[str] = frozenset()
        #: feeds held at a record whose writer schema cannot be resolved
        self.holds = FeedHolds(settings, COPY, log, Stops(backoff=stop_backoff, gauge=_gauge))

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            consumer = AIOKafkaConsumer(
                **client_options(self.settings),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id=f"hub-deliver-{uuid.uuid4().hex[:8]}",
            )
            try:
                await consumer.start()
            except (KafkaError, OSError) as exc:
                await consumer.stop()
                raise TransientError(f"Kafka unavailable: {type(exc).__name__}") from None
            self.consumer = consumer
        return self.consumer

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
            self.following = frozenset()

    async def follow(self, actor_ids: Iterable[str]) -> None:
        """Follow the feeds of ``actor_ids`` (and only them) that exist."""
        wanted = frozenset(actor_ids)
        if wanted == self._wanted and wanted == self.following:
            return
        consumer = await self._consumer()
        try:
            metadata = await consumer._client.fetch_all_metadata()
        except KafkaError as exc:
            raise TransientError(f"Kafka metadata: {type(exc).__name__}") from None
        present = frozenset(
            a for a in wanted if metadata.partitions_for_topic(topics.feed_topic(a))
        )
        self._wanted = wanted
        if present == self.following:
            return
        tps = {a: TopicPartition(topics.feed_topic(a), 0) for a in present}
        consumer.assign(list(tps.values()))
        for a, tp in tps.items():
            consumer.seek(tp, self.outbox.next_offset(a))
            if tp in self.holds.stops:  # assign() forgot the pause: not read before its retry
                consumer.pause(tp)
        self.following = present

    async def poll(self, timeout_ms: int = 500) -> dict[str, int]:
        """Fetch what the followed feeds hold past their position and copy it into the
        outbox; return the records copied per actor (see the module doc)."""
        consumer = await self._consumer()
        if not self.following:
            return {}
        await self.holds.retry(consumer)
        try:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        except KafkaError as exc:
            raise TransientError(f"feed fetch failed: {type(exc).__name__}") from None
        copied: dict[str, int] = {}
        pending = dict(batch)
        try:
            for tp, messages in batch.items():
                actor = tp.topic[len(topics.FEED_PREFIX) :]
                rows, bad = self._rows(messages)
                self.outbox.add(actor, rows)
                del pending[tp]
                if rows:
                    copied[actor] = len(rows)
                if bad is not None:  # after the copy: a failed copy rewinds the whole fetch
                    self._stop(consumer, tp, *bad)
        except BaseException:
            for tp, messages in pending.items():  # not copied: fetched again next time
                if messages:
                    consumer.seek(tp, messages[0].offset)
            raise
        return copied

    def _rows(
        self, messages: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[tuple[int, str, bytes]], Bad | None]:
        """The outbox rows of ``messages`` up to the first record that does not decode,
        and that record with its error (None: all decode)."""
        rows: list[tuple[int, str, bytes]] = []
        for m in messages:
            try:
                rec = self.codec.decode_as(m.value or b"", "FeedRecord")
            except DecodeError as exc:
                return rows, (m, exc)
            rows.append((m.offset, str(rec["numUnique"]), record_body(rec)))
        return rows, None

    def _stop(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        m: ConsumerRecord[bytes, bytes],
        exc: DecodeError,
    ) -> None:
        """Stop the copy of ``tp`` at ``m``: until it resolves (its writer schema
        unresolved), else for good (see the module doc)."""
        if is_unresolved(exc):  # a misdeployed reader, not bad input: tried again
            self.holds.hold(consumer, tp, m.offset, m.value or b"", exc)
            return
        log.error("feed of %s: offset %d does not decode (%s): its copy stops there",
                  tp.topic[len(topics.FEED_PREFIX) :], m.offset, exc.code)  # fmt: skip
        consumer.pause(tp)
        consumer.seek(tp, m.offset)
