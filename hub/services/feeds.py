"""Reading an actor's feed (for ``hub feed``, the demo and the tests).

These readers follow a feed (or wait for records still to come) rather than read it to
fixed end offsets: they open a :func:`~hub.core.kafka.reader.standalone_consumer` and
read on (see :mod:`hub.core.kafka.reader`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import TopicPartition

from hub.core import topics
from hub.core.errors import NotFoundError
from hub.core.kafka.client import topic_partitions
from hub.core.kafka.reader import standalone_consumer
from hub.core.settings import HubSettings
from schemas import get_codec


async def read_feed(
    settings: HubSettings,
    actor_id: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout_s: float | None = None,
    exit_at_end: bool = False,
    on_caught_up: Callable[[str], None] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield decoded FeedRecords of ``actor_id`` in order. Stops after ``limit`` records,
    once nothing arrived for ``idle_timeout_s`` seconds (None = follow forever), or with
    ``exit_at_end`` once every partition is read up to its end offset as of the start
    (as ``kcat -e``; records written after the start are not waited for).

    ``on_caught_up(topic)`` is called once, when every record present at the start has
    been read (at once without ``from_beginning``) and the reader starts waiting for new
    ones; never with ``exit_at_end``."""
    topic = topics.feed_topic(actor_id)
    codec = get_codec()
    async with standalone_consumer(settings, "feed") as consumer:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            raise NotFoundError(f"no feed topic for actor {actor_id!r} ({topic})")
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        caught_up = False

        async def at_end() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return False
            return True

        seen = 0
        last = time.monotonic()
        while limit is None or seen < limit:
            if not caught_up and await at_end():
                caught_up = True
                if exit_at_end:
                    return
                if on_caught_up is not None:
                    on_caught_up(topic)
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    return
                continue
            last = time.monotonic()
            for tp, messages in batch.items():
                for m in messages:
                    if exit_at_end and m.offset >= ends[tp]:
                        break  # written after the start: not waited for, not shown
                    rec = codec.decode_as(m.value, "FeedRecord")
                    rec["_offset"] = m.offset
                    yield rec
                    seen += 1
                    if limit is not None and seen >= limit:
                        return


async def feed_sizes(settings: HubSettings, actor_ids: list[str]) -> dict[str, int]:
    """Number of records in each actor's feed (end offsets; 0 if no feed topic)."""
    async with standalone_consumer(settings, "feed-sizes") as consumer:
        metadata = await consumer._client.fetch_all_metadata()
        tps = []
        for a in actor_ids:
            t = topics.feed_topic(a)
            tps += [TopicPartition(t, p) for p in metadata.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps) if tps else {}
        sizes = dict.fromkeys(actor_ids, 0)
        for tp, end in ends.items():
            sizes[tp.topic[len(topics.FEED_PREFIX) :]] += end
        return sizes


async def count_deliveries(
    settings: HubSettings,
    start: dict[str, int],
    keys: set[bytes],
    expected: dict[str, int],
    *,
    timeout_s: float,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Count, per actor, the feed records keyed by one of ``keys`` written after the
    ``start`` offsets (single-partition feeds), until ``expected`` is reached or
    ``timeout_s`` passes. Reads keys only: nothing is decoded."""
    counts = dict.fromkeys(expected, 0)
    async with standalone_consumer(settings, "feed-count") as consumer:
        tps = {TopicPartition(topics.feed_topic(a), 0): a for a in expected}
        consumer.assign(list(tps))
        for tp, actor in tps.items():
            consumer.seek(tp, start.get(actor, 0))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(counts[a] < expected[a] for a in expected):
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, messages in batch.items():
                counts[tps[tp]] += sum(1 for m in messages if m.key in keys)
            if on_progress is not None:
                on_progress(sum(counts.values()))
        return counts
