"""A page of an actor's feed read by offset (the REST feed, the push channels, holders).

Every wait is bounded with a timeout and turn broker failures into
:class:`~hub.core.errors.TransientError` (HTTP 503), never a hung request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from hub.core import topics
from hub.core.errors import NotFoundError, TransientError
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import HubSettings
from schemas import get_codec


async def read_feed_page(settings: HubSettings, actor_id: str, offset: int, limit: int,
                         timeout_s: float = 10.0) -> tuple[list[dict[str, Any]], int, int]:
    """(records from ``offset`` on, at most ``limit``; next offset; end offset) of the
    actor's single-partition feed. Each record carries its ``offset``."""
    codec = get_codec()
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False,
                                client_id=f"hub-api-feed-{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        await consumer.stop()
        raise TransientError(f"Kafka unavailable: {type(exc).__name__}") from None
    try:
        topic = topics.feed_topic(actor_id)
        if not await topic_partitions(consumer, topic):
            raise NotFoundError(f"no feed yet for actor {actor_id!r}")
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        begin = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        start = max(offset, begin)
        stop = min(end, start + limit)
        records: list[dict[str, Any]] = []
        if start >= stop:
            return records, max(start, min(offset, end)), end
        consumer.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        position = start
        while position < stop:
            if time.monotonic() > deadline:
                raise TransientError("feed read timed out")
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=stop - position)
            for m in batch.get(tp, []):
                if m.offset >= stop:
                    break
                rec = codec.decode_as(m.value, "FeedRecord")
                rec["offset"] = m.offset
                records.append(rec)
                position = m.offset + 1
        return records, position, end
    except KafkaError as exc:
        raise TransientError(f"feed read failed: {type(exc).__name__}") from None
    finally:
        await consumer.stop()
