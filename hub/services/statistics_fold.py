"""``hub stats fold``: the statistics fold, a connector consuming hub.demandes
(:class:`connectors.shape.Connector`; docs/statistics.md, docs/connectors.md).

It reads hub.demandes in its own consumer group (``statistics.group``, apart from the
workers': its offsets and pace are its own, and the dispatch hot path touches no database)
and folds each batch into the facts table (:class:`~hub.services.statistics_folder.Folder`).

Contracts:

* **At least once, folded once.** Offsets are committed only after the batch's database
  transaction; a crash, a rebalance or a restart in between reads the batch again, and
  the fold's ordering rule skips what was folded (:mod:`hub.domain.statistics_facts`).
* **Bad records never stop it**: each is one counted outcome (``stats.counts`` and
  ``passerelle_statistics_records_total``), see :mod:`hub.services.statistics_folder`.
* **Outages** (broker, database) are retried after the one back-off
  (``statistics.backoff_s`` … ``backoff_max_s``): the consumer is closed and reopened at
  the committed offsets, so nothing is skipped.
* ``run(stop)`` returns within about a second of ``stop`` (a fetch waits at most 500 ms),
  after the batch in progress is written and committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from connectors.shape import ConnectorStats, describe, wait_or_stop
from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.errors import HubError, TransientError
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from hub.services.statistics_folder import Folder, Record, set_gauges

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
FETCH_MS = 500


class StatisticsFold:
    """The fold connector (module doc). ``stats.counts``: the outcomes of
    :meth:`Folder.fold`; ``passes``: batches folded."""

    name = "statistics_fold"
    section = "statistics"

    def __init__(
        self,
        settings: HubSettings,
        folder: Folder,
        *,
        topic: str = topics.DEMANDES,
        group: str | None = None,
    ) -> None:
        self.settings, self.folder, self.topic = settings, folder, topic
        self.group = group or settings.statistics.group
        s = settings.statistics
        self.backoff = Backoff(s.backoff_s, s.backoff_max_s)
        self.stats = ConnectorStats()

    async def run(self, stop: asyncio.Event) -> None:
        gauges_set = False
        while not stop.is_set():
            try:
                if not gauges_set:
                    set_gauges(await asyncio.to_thread(self.folder.store.stock_actif_all))
                    gauges_set = True
                await self._consume(stop)
            except (HubError, KafkaError, OSError, TimeoutError) as exc:
                if isinstance(exc, HubError) and not exc.retriable:
                    raise
                delay = self.backoff.delay(self.stats.failed(exc))
                log.warning("statistics fold: %s; retrying in %.1f s", describe(exc), delay)
                await wait_or_stop(stop, delay)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"hub-stats-{uuid.uuid4().hex[:8]}",
        )

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = self._consumer()
        try:
            try:
                await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
            except (KafkaError, OSError, TimeoutError) as exc:
                raise TransientError(f"Kafka unavailable: {type(exc).__name__}") from None
            consumer.subscribe([self.topic])
            while not stop.is_set():
                batch = await consumer.getmany(
                    timeout_ms=FETCH_MS, max_records=self.settings.statistics.batch_max_records
                )
                if batch:
                    await self._fold(consumer, batch)
        finally:
            await consumer.stop()

    async def _fold(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        records = [
            Record(m.partition, m.offset, m.key, m.value)
            for tp in sorted(batch, key=lambda t: t.partition)
            for m in batch[tp]
        ]
        outcomes = await asyncio.to_thread(self.folder.fold, records)
        self.stats.succeeded(**outcomes)
        offsets = {tp: ms[-1].offset + 1 for tp, ms in batch.items() if ms}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance: the new owner reads again, the fold skips
            log.warning("statistics fold: offsets not committed (%s)", type(exc).__name__)
