"""Audit finding 5: a valid input whose output the producer cannot carry is refused, not a
crash loop; a broker that does not answer still stops the batch and is retried.

On the faults lane's private broker, with the real producer rules (aiokafka's own size
check, the broker's limits):

* a worker run with the largest ``worker.max_record_bytes`` the settings accept delivers
  a valid event of that size to its actor (it used to accept 64 MiB and then exit at
  every restart on a 1 MB event: the producer sends at most 1,000,000 bytes);
* the processor over a real producer: a valid event whose feed record would be larger
  than the producer sends is dead-lettered ``oversize`` and the events behind it go on
  (sizes drawn around the limit: each input ends in exactly one place);
* with the broker frozen, the same processor raises the retriable delivery error and
  dead-letters nothing; once the broker answers, the same batch goes through.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dispatch.ports import partition_of
from dispatch.processor import InputRecord, Processor
from dispatch.sending import DeliveryError, until_acknowledged
from hub.core import topics
from hub.core.kafka.client import producer_options
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.core.settings import WorkerSettings
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from reliability.cluster import PrivateHub, Worker
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemoryStore

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

ROUEN = "76540"
#: aiokafka's and faust's default ``max_request_size``: what the worker's producer sends
PRODUCER_LIMIT = 1_000_000
#: each example talks to the broker; the private broker serves every example
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _event_of(size: int) -> dict[str, Any]:
    """A valid demand event of Rouen whose encoded value is exactly ``size`` bytes (its
    free text ``precision`` padded)."""
    codec = get_codec()
    ev = demande_event(new_num_unique(), [ROUEN])
    pad = size - len(codec.encode("DemandeEvent", ev))
    while True:
        ev["demande"]["demandeLogement"]["precision"] = "A" * pad
        got = len(codec.encode("DemandeEvent", ev))
        if got == size:
            return ev
        pad += size - got


def _actor(hub: PrivateHub) -> Actor:
    actor = Actor(id=f"size-{uuid.uuid4().hex[:6]}", name="s", kind="bailleur",
                  filters=ActorFilters(communes=[ROUEN]))  # fmt: skip
    hub.register([actor])
    return actor


async def _records(hub: PrivateHub, topic: str, start: int) -> list[Any]:
    """The records of ``topic`` (one partition) from ``start``. A broker just thawed
    (SIGCONT) can refuse a new client's first metadata request for a few seconds: asked
    again until it answers, within a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            async with standalone_consumer(hub.settings, "test-output-size") as consumer:
                return [m async for m in read_to_end(consumer, topic, start={0: start},
                                                     timeout_s=30)]  # fmt: skip
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def _end(hub: PrivateHub, topic: str) -> int:
    return len(await _records(hub, topic, 0))


def _accepted_max() -> int:
    """The largest ``worker.max_record_bytes`` the settings accept."""
    field = WorkerSettings.model_fields["max_record_bytes"]
    return min(int(m.le) for m in field.metadata if getattr(m, "le", None) is not None)


@pytest.mark.timeout(300)
def test_the_largest_accepted_max_record_bytes_is_dispatched(private_hub: PrivateHub) -> None:
    hub = private_hub
    actor = _actor(hub)
    feed = topics.feed_topic(actor.id)
    limit = _accepted_max()
    # what the test's broker takes in one record (message.max.bytes 1,048,588), at most
    size = min(limit, 1_040_000)
    big, after = _event_of(size), demande_event(new_num_unique(), [ROUEN])
    over = _event_of(size + 1) if size == limit else None

    async def publish() -> None:
        codec = get_codec()
        producer = AIOKafkaProducer(**producer_options(hub.settings), max_request_size=2 << 20)
        await producer.start()
        try:
            for ev in (big, over, after):
                if ev is not None:
                    await producer.send_and_wait(topics.DEMANDES, codec.encode("DemandeEvent", ev),
                                                 key=ev["numUnique"].encode())  # fmt: skip
        finally:
            await producer.stop()

    asyncio.run(publish())
    worker = Worker({**hub.env, "HUB_WORKER__MAX_RECORD_BYTES": str(limit)},
                    hub.home / f"worker-size-{uuid.uuid4().hex[:4]}.log")  # fmt: skip
    worker.start()
    hub.workers.append(worker)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert worker.alive(), worker.log.read_text(errors="replace")[-3000:]
            got = [get_codec().decode_as(m.value, "FeedRecord")["numUnique"]
                   for m in asyncio.run(_records(hub, feed, 0))]  # fmt: skip
            if {big["numUnique"], after["numUnique"]} <= set(got) or time.monotonic() > deadline:
                break
            time.sleep(1)
        # (other tests' Rouen events may be there too; two partitions, any order)
        mine = {big["numUnique"], after["numUnique"]}
        assert sorted(n for n in got if n in mine) == sorted(mine), got
        hub.wait_drained(60)
        assert worker.alive()
    finally:
        worker.signal(signal.SIGTERM)


class ProducerSender:
    """The processor's Sender over a plain aiokafka producer, as the worker's: the
    record handed over, the future of its acknowledgement returned."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        return await self.producer.send(topic, value, key=key)


def _processor(hub: PrivateHub, actor: Actor, producer: AIOKafkaProducer) -> Processor:
    index = TerritoryIndex(get_geography(), [actor])
    return Processor(index, get_codec(), MemoryStore(hub.settings.kafka.partitions),
                     ProducerSender(producer), max_record_bytes=10 << 20)  # fmt: skip


def _inputs(hub: PrivateHub, events: Sequence[dict[str, Any]], first: int) -> list[InputRecord]:
    codec, n = get_codec(), hub.settings.kafka.partitions
    return [InputRecord(topics.DEMANDES, partition_of(ev["numUnique"].encode(), n), first + i,
                        ev["numUnique"].encode(), codec.encode("DemandeEvent", ev))
            for i, ev in enumerate(events)]  # fmt: skip


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=SLOW)
@given(sizes=st.lists(st.one_of(st.integers(PRODUCER_LIMIT - 2_000, PRODUCER_LIMIT + 2_000),
                                st.integers(PRODUCER_LIMIT, 1_040_000)),
                      min_size=1, max_size=3))  # fmt: skip
@example(sizes=[1_010_000, PRODUCER_LIMIT - 2_000])  # the audit's size; a large one that fits
def test_an_output_the_producer_cannot_send_dead_letters_its_input(
        private_hub: PrivateHub, sizes: list[int]) -> None:  # fmt: skip
    hub = private_hub
    actor = _actor(hub)
    feed = topics.feed_topic(actor.id)
    # each large event followed by a small one of another demand
    events = [ev for size in sizes
              for ev in (_event_of(size), demande_event(new_num_unique(), [ROUEN]))]  # fmt: skip

    async def run() -> tuple[Any, list[Any], list[Any]]:
        dlq_start = await _end(hub, topics.DLQ)
        producer = AIOKafkaProducer(**producer_options(hub.settings),
                                    max_request_size=PRODUCER_LIMIT)  # fmt: skip
        await producer.start()
        try:
            stats = await _processor(hub, actor, producer).process(_inputs(hub, events, 1000))
        finally:
            await producer.stop()
        return stats, await _records(hub, feed, 0), await _records(hub, topics.DLQ, dlq_start)

    stats, fed, letters = asyncio.run(run())
    codec = get_codec()
    delivered = [codec.decode_as(m.value, "FeedRecord")["numUnique"] for m in fed]
    refused = {codec.decode_as(m.value, "DeadLetter")["sourceOffset"]: m for m in letters}
    for i, ev in enumerate(events):  # each input in exactly one place
        assert (ev["numUnique"] in delivered) != (1000 + i in refused), (i, len(fed))
    for offset, m in refused.items():
        letter = codec.decode_as(m.value, "DeadLetter")
        assert letter["reason"] == "oversize" and offset % 2 == 0, letter["message"]
        assert "producer" in letter["message"], letter["message"]
    assert all(ev["numUnique"] in delivered for ev in events[1::2])  # the events behind
    assert stats.dead_letter_reasons.get("oversize", 0) == len(refused)
    if sizes == [1_010_000, PRODUCER_LIMIT - 2_000]:
        assert sorted(refused) == [1000], refused


@pytest.mark.timeout(180)
def test_a_frozen_broker_stops_the_batch_and_dead_letters_nothing(private_hub: PrivateHub,
                                                                   ) -> None:  # fmt: skip
    """The batch waits for the broker (or fails with the retriable delivery error, which the
    worker retries), whatever the size check does; nothing is dead-lettered."""
    hub = private_hub
    actor = _actor(hub)
    broker = hub.stack._read_pid()
    assert broker is not None
    events = [demande_event(new_num_unique(), [ROUEN]) for _ in range(3)]

    async def run() -> None:
        dlq_start = await _end(hub, topics.DLQ)
        producer = AIOKafkaProducer(**{**producer_options(hub.settings),
                                       "request_timeout_ms": 3000})  # fmt: skip
        await producer.start()
        proc = _processor(hub, actor, producer)
        records = _inputs(hub, events, 2000)
        try:
            await proc.process(records[:1])  # metadata known, the feed written once
            os.kill(broker, signal.SIGSTOP)
            try:
                batch = asyncio.ensure_future(proc.process(records[1:]))
                await asyncio.wait({batch}, timeout=10)
            finally:
                os.kill(broker, signal.SIGCONT)
            try:
                stats = await asyncio.wait_for(batch, 60)
            except DeliveryError as exc:  # the worker's way: the same batch again, backing off
                assert exc.retriable
                stats = await until_acknowledged(lambda: proc.process(records[1:]))
            assert stats.dead_letters == 0 and sum(stats.deliveries.values()) == 2
        finally:
            await producer.stop()
        assert await _records(hub, topics.DLQ, dlq_start) == []

    asyncio.run(run())
