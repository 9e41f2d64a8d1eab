"""Kafka-side tools of the harness: fill topics, register actors, wait for deliveries,
read feeds into a ledger. Every client here uses the hub's producer settings
(acks=all, idempotence, linger, compression), so the harness loads the broker like the hub does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.broker import create_topics
from bench.ledger import HeadReader, Ledger
from hub.core import topics
from hub.core.kafka.admin import known_partitions
from hub.core.kafka.client import delivery_options
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from schemas import get_codec

PARTITIONS = 4  # hub.demandes partitions: the hub's default


def producer(bootstrap: str) -> AIOKafkaProducer:
    """The hub's delivery settings (``hub.core.kafka.client.delivery_options``), linger and
    compression from ``HUB_KAFKA__*`` as the worker reads them (a tuning run's
    ``--worker-env`` reaches the baselines too: same settings, fair ratio)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **delivery_options(HubSettings().kafka))


def consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"bench-{uuid.uuid4().hex[:6]}",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


async def hub_topics(bootstrap: str, actors: Sequence[Actor]) -> None:
    """The hub's core topics and one feed topic per actor (as the registry creates them)."""
    specs = {
        topics.DEMANDES: PARTITIONS,
        topics.EVENEMENTS: PARTITIONS,
        topics.DLQ: 1,
        topics.ACTORS: 1,
    }
    specs.update({topics.feed_topic(a.id): 1 for a in actors})
    await create_topics(bootstrap, specs)


async def register_actors(bootstrap: str, actors: Sequence[Actor]) -> None:
    """Write registrations on hub.actors: a worker started afterwards loads them all."""
    codec = get_codec()
    prod = producer(bootstrap)
    await prod.start()
    try:
        futs = [
            await prod.send(
                topics.ACTORS, codec.encode("ActorRegistration", a.to_avro()), key=a.id.encode()
            )
            for a in actors
        ]
        await asyncio.gather(*futs)
    finally:
        await prod.stop()


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Send pre-encoded (key, value) records as fast as the client goes; await all acks."""
    prod = producer(bootstrap)
    await prod.start()
    try:
        futs = [await prod.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futs)
        return len(futs)
    finally:
        await prod.stop()


class Watcher:
    """Sums the end offsets of a set of topics (one consumer, metadata only)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = consumer(bootstrap)

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def partitions(self, names: Sequence[str], timeout: float = 120) -> list[TopicPartition]:
        """The partitions of ``names`` (``hub.core.kafka.admin.known_partitions``)."""
        async with asyncio.timeout(timeout):
            return await known_partitions(self.consumer, names)

    async def total(self, tps: Sequence[TopicPartition]) -> int:
        ends = await self.consumer.end_offsets(list(tps))
        return sum(ends.values())

    async def wait_total(
        self,
        tps: Sequence[TopicPartition],
        target: int,
        timeout: float,
        period: float | None = None,
    ) -> float | None:
        """Monotonic time at which the end offsets reached ``target``; None on timeout.

        Polled every ``period`` s; by default 50 ms for a few outputs, 250 ms above 100:
        listing the end offsets of 2,000 partitions twenty times a second would cost the
        broker (and the machine the hub shares) a measurable share of its CPU."""
        if period is None:
            period = 0.05 if len(tps) <= 100 else 0.25
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.total(tps) >= target:
                return time.monotonic()
            await asyncio.sleep(period)
        return None


async def read_into_ledger(
    bootstrap: str, feeds: dict[str, str], ledger: Ledger, start: dict[str, int] | None = None
) -> None:
    """Read feed topics (actor id -> topic, one partition each) from ``start`` offsets (0
    by default) up to their current end, into ``ledger``."""
    reader = HeadReader(get_codec())
    cons = consumer(bootstrap)
    await cons.start()
    try:
        tps = {TopicPartition(t, 0): a for a, t in feeds.items()}
        cons.assign(list(tps))
        ends = await cons.end_offsets(list(tps))
        remaining = set()
        for tp, actor in tps.items():
            first = (start or {}).get(actor, 0)
            cons.seek(tp, first)
            if ends[tp] > first:
                remaining.add(tp)
        while remaining:
            batch = await cons.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                actor = tps[tp]
                for m in msgs:
                    ledger.receive(actor, reader.read(m.value))
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await cons.stop()
