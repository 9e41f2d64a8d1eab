"""The dispatch worker's :class:`~dispatch.sending.Sender`: the aiokafka producer under the
faust app (the one faust's own producer wraps, so the same settings: acks=all,
idempotence, linger, compression) without faust's per-send coroutine and sensor hooks:
two awaits per record instead of four, and no task per record. Private names it reaches
are listed in :mod:`dispatch.runtime.private_names`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from hub.core import topics

log = logging.getLogger(__name__)


class KafkaSender:
    """Sends through the faust app's underlying aiokafka producer (started with the app)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def warm(self, topics: Sequence[str]) -> None:
        """Fetch the metadata of ``topics`` in one request. Otherwise the first send to
        each feed topic waits for its own metadata request, one after the other: 2,000
        round trips, each listing every topic known so far, at the start of a backfill."""
        client = self.app.producer._ensure_producer().client
        known = client.cluster.topics()
        missing = [t for t in topics if t not in known]
        if not missing:
            return
        try:  # one update for all (add_topic would request one per topic)
            await asyncio.wait_for(client.set_topics([*client._topics, *missing]), timeout=30)
        except Exception as exc:  # the sends will ask again, topic by topic
            log.warning("feed topic metadata not fetched (%s): fetched on first send", exc)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        producer = self.app.producer._ensure_producer()  # aiokafka.AIOKafkaProducer
        # feeds and hub.dlq have one partition (hub.core.kafka.admin): naming it spares the
        # client's murmur2 partitioner, ~4 % of a worker's CPU at N = 10 (py-spy)
        partition = 0 if topic.startswith(topics.FEED_PREFIX) or topic == topics.DLQ else None
        fut: Awaitable[Any] = await producer.send(topic, value, key=key, partition=partition)
        return fut
