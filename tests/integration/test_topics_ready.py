"""New topics are ready for writes when ``ensure_topics`` returns.

A created topic shows in the metadata before the broker has loaded its partitions; a
write in that window gets NOT_LEADER_OR_FOLLOWER, from which aiokafka's producer does
not always recover (aio-libs/aiokafka#1018). Registering an actor creates its feed topic
and then lets the worker write to it, and a bench phase creates 2,000 of them at once:
``ensure_topics`` must not return before every partition takes writes."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from hub.core.kafka.admin import TopicSpec, ensure_topics
from hub.core.kafka.client import new_producer
from hub.core.settings import HubSettings

pytestmark = pytest.mark.kafka

#: enough topics that, without the wait, the first writes reach partitions still loading
#: (500 gave hundreds of NotLeaderForPartition retries on the development machine)
COUNT = 500


def test_writes_right_after_creation_meet_loaded_partitions(
    settings: HubSettings, caplog: pytest.LogCaptureFixture
) -> None:
    names = [f"test.ready.{uuid.uuid4().hex[:8]}.{i}" for i in range(COUNT)]

    async def scenario() -> None:
        created = await ensure_topics(settings, [TopicSpec(n, 1, {}) for n in names])
        assert sorted(created) == sorted(names)
        producer = new_producer(settings)
        await producer.start()
        try:
            # all metadata in one request, so the writes follow creation at once
            await producer.client.set_topics(names)
            futures = [await producer.send(n, b"x") for n in names]
            await asyncio.wait_for(asyncio.gather(*futures), 120)
        finally:
            await producer.stop()

    with caplog.at_level(logging.WARNING, logger="aiokafka"):
        asyncio.run(scenario())
    refused = [r for r in caplog.records if "NotLeaderForPartition" in r.getMessage()]
    assert refused == [], f"{len(refused)} writes hit partitions not yet loaded"
