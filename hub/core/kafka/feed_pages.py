"""A page of an actor's feed read by offset (the REST feed, the push channels, holders).

Every wait is bounded with a timeout and turn broker failures into
:class:`~hub.core.errors.TransientError` (HTTP 503), never a hung request.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from hub.core import topics
from hub.core.errors import DecodeError, NotFoundError, TransientError
from hub.core.kafka.client import topic_partitions
from hub.core.kafka.feed_stops import is_unresolved
from hub.core.kafka.reader import read_partitions, standalone_consumer
from hub.core.settings import HubSettings
from schemas import get_codec

log = logging.getLogger(__name__)

#: (records, each with its ``offset``; next offset; end offset)
Page = tuple[list[dict[str, Any]], int, int]


async def read_feed_page(
    settings: HubSettings, actor_id: str, offset: int, limit: int, timeout_s: float = 10.0
) -> Page:
    """(records from ``offset`` on, at most ``limit``; next offset; end offset) of the
    actor's single-partition feed. Each record carries its ``offset``. One consumer for
    this page: a long-lived process reads through :class:`hub.core.kafka.feed_pool.FeedPages`."""
    topic = topics.feed_topic(actor_id)
    try:
        async with standalone_consumer(settings, "api-feed", timeout_s=timeout_s) as consumer:
            if not await topic_partitions(consumer, topic):
                raise NotFoundError(f"no feed yet for actor {actor_id!r}")
            return await page_from(consumer, TopicPartition(topic, 0), offset, limit, timeout_s)
    except KafkaError as exc:
        raise TransientError(f"feed read failed: {type(exc).__name__}") from None


async def page_from(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, limit: int,
                    timeout_s: float) -> Page:  # fmt: skip
    """The page of ``tp`` (an existing feed partition) from ``offset``, read with
    ``consumer`` (started; its assignment is replaced when records are read)."""
    codec = get_codec()
    begin = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    start = max(offset, begin)
    stop = min(end, start + limit)
    records: list[dict[str, Any]] = []
    if start >= stop:
        return records, max(start, min(offset, end)), end
    async for m in read_partitions(consumer, {tp: start}, ends={tp: stop}, timeout_s=timeout_s):
        rec = _decoded(codec, m.value, tp, m.offset)
        if rec is None:
            continue
        rec["offset"] = m.offset
        records.append(rec)
    # read to ``stop``: a transaction marker at the end is not read again
    return records, stop, end


def _decoded(codec: Any, value: bytes | None, tp: TopicPartition,
             offset: int) -> dict[str, Any] | None:  # fmt: skip
    """The feed record at ``offset``, or None for one no hub process wrote (a tombstone,
    bytes of no schema: written by hand or another tool), said in one line and passed
    over: it carries nothing for the caller, and failing on it failed every page and
    every authorization check of the actor from then on (a tombstone was a TypeError, an
    HTTP 500). A record whose writer schema cannot be resolved (``unknown_schema``: a
    registry that does not know its id yet) is not passed over: it is raised, as every
    reader of the feeds does (:mod:`hub.core.kafka.feed_stops`)."""
    if value is None:
        log.warning("%s offset %d: a record without value (tombstone) passed over", tp, offset)
        return None
    try:
        return dict(codec.decode_as(value, "FeedRecord"))
    except DecodeError as exc:
        if is_unresolved(exc):
            raise
        log.warning("%s offset %d: not a feed record, passed over (%s)", tp, offset, exc.message)
        return None
