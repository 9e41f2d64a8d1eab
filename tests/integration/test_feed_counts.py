"""``hub.services.feeds``' counters on the real broker: the size of each feed (end offsets,
0 without a feed topic) and the deliveries keyed by given keys after given offsets."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.core import topics
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from hub.services.feeds import count_deliveries, feed_sizes

pytestmark = pytest.mark.kafka


def test_feed_sizes_and_deliveries_counted(settings: HubSettings) -> None:
    async def scenario() -> None:
        actor, absent = f"count-{uuid.uuid4().hex[:8]}", f"none-{uuid.uuid4().hex[:8]}"
        topic = topics.feed_topic(actor)
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(**client_options(settings))
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, b"x", key=b"mine" if i % 2 else b"other")
        finally:
            await producer.stop()
        assert await feed_sizes(settings, [actor, absent]) == {actor: 10, absent: 0}
        seen: list[int] = []
        counts = await count_deliveries(settings, {actor: 4}, {b"mine"}, {actor: 3},
                                        timeout_s=20, on_progress=seen.append)  # fmt: skip
        assert counts == {actor: 3}  # offsets 5, 7, 9
        assert seen and seen[-1] == 3

    asyncio.run(scenario())
