"""The one topic reader (hub/core/kafka/reader.py) on the real broker: every record up to
the end offsets of its start, tombstones and keyless records included, from given
offsets, over chosen partitions; a missing or empty topic reads as empty."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.core.errors import TransientError
from hub.core.kafka.client import client_options
from hub.core.kafka.reader import read_partitions, read_to_end, standalone_consumer
from hub.core.settings import HubSettings

pytestmark = pytest.mark.kafka


async def _topic(settings: HubSettings, partitions: int) -> str:
    name = f"test.reader.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


Row = tuple[int, int, bytes | None, bytes | None]


async def _read(settings: HubSettings, topic: str, **kw: object) -> list[Row]:
    async with standalone_consumer(settings, "test") as consumer:
        return [
            (m.partition, m.offset, m.key, m.value)
            async for m in read_to_end(consumer, topic, **kw)
        ]  # type: ignore[arg-type]


def test_reads_everything_written_before_it_starts(settings: HubSettings) -> None:
    async def scenario() -> None:
        topic = await _topic(settings, 3)
        producer = AIOKafkaProducer(**client_options(settings))
        await producer.start()
        try:
            sent = []
            for i in range(40):
                key = None if i % 7 == 0 and i % 5 else f"k{i}".encode()
                value = None if i % 5 == 0 else f"v{i}".encode()  # tombstones too
                md = await producer.send_and_wait(topic, value, key=key, partition=i % 3)
                sent.append((md.partition, md.offset, key, value))
            got = await _read(settings, topic)
            assert sorted(got) == sorted(sent)
            # from offsets, over one partition
            assert await _read(settings, topic, partitions=[1], start={1: 5}) == sorted(
                s for s in sent if s[0] == 1 and s[1] >= 5
            )
            # a start past the end, an unknown partition: nothing
            assert await _read(settings, topic, start={0: 10_000, 1: 10_000, 2: 10_000}) == []
            assert await _read(settings, topic, partitions=[9]) == []

            # records written while reading are not waited for: the read ends
            async def writer() -> None:
                for i in range(200):
                    await producer.send(topic, b"late", partition=i % 3)

            task = asyncio.create_task(writer())
            again = await _read(settings, topic)
            await task
            early = [r for r in again if r[3] != b"late"]
            assert sorted(early) == sorted(sent)  # all of them, and it returned
        finally:
            await producer.stop()

    asyncio.run(scenario())


def test_a_missing_or_empty_topic_reads_as_empty(settings: HubSettings) -> None:
    async def scenario() -> None:
        assert await _read(settings, f"test.reader.missing.{uuid.uuid4().hex[:8]}") == []
        assert await _read(settings, await _topic(settings, 2)) == []

    asyncio.run(scenario())


def test_chosen_partitions_of_several_topics_up_to_given_ends(settings: HubSettings) -> None:
    async def scenario() -> None:
        a, b = await _topic(settings, 1), await _topic(settings, 2)
        producer = AIOKafkaProducer(**client_options(settings))
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(a, f"a{i}".encode(), partition=0)
                await producer.send_and_wait(b, f"b{i}".encode(), partition=i % 2)
        finally:
            await producer.stop()
        a0, b1 = TopicPartition(a, 0), TopicPartition(b, 1)
        async with standalone_consumer(settings, "test") as consumer:
            got = [
                (m.topic, m.offset, m.value)
                async for m in read_partitions(consumer, {a0: 3, b1: 2}, ends={a0: 6})
            ]
            assert sorted(got) == sorted(
                [(a, o, f"a{o}".encode()) for o in (3, 4, 5)]
                + [(b, o, f"b{2 * o + 1}".encode()) for o in (2, 3, 4)]
            )
            # a stop before the start, nothing to read at all
            assert [m async for m in read_partitions(consumer, {a0: 5}, ends={a0: 5})] == []
            assert [m async for m in read_partitions(consumer, {})] == []

    asyncio.run(scenario())


def test_a_broker_that_does_not_answer_is_a_transient_error(settings: HubSettings) -> None:
    dead = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})}
    )

    async def scenario() -> None:
        with pytest.raises(TransientError, match="Kafka unavailable"):
            async with standalone_consumer(dead, "test", timeout_s=2):
                pass

    asyncio.run(scenario())
