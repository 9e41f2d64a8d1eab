"""A long-lived producer keeps the metadata of every topic it writes to (the worker's
stall of session 19: hub.core.kafka.metadata), on the real broker.

aiokafka's client starts with an empty topic list ("every topic"); its first send to a
topic created after its last metadata refresh turns the list into that one topic, and a
batch then waiting for any other topic has no leader until its request timeout. The first
test shows the library doing so (if a later aiokafka stops, it fails: the workaround may
go); the second shows :func:`track_every_topic` keeping the batch moving.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.core.kafka.client import client_options
from hub.core.kafka.metadata import track_every_topic
from hub.core.settings import HubSettings

pytestmark = pytest.mark.kafka


async def _create(settings: HubSettings, *names: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 1, 1) for n in names])
    finally:
        await admin.close()


async def _drop(settings: HubSettings, *names: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def _batch_for_old_topic_after_new_one(settings: HubSettings, *, tracked: bool) -> bool:
    """Send to an existing topic (the batch lingers), then to a topic created after the
    producer started; True if the first batch is acknowledged within 6 s."""
    old, new = (f"test.md-{uuid.uuid4().hex[:8]}" for _ in range(2))
    await _create(settings, old)
    producer = AIOKafkaProducer(
        **client_options(settings), linger_ms=500, request_timeout_ms=12_000
    )  # the stuck batch expires then
    await producer.start()
    try:
        # a refresh while the list is empty fetches every topic, as faust's worker makes
        # one after declaring its topics (faust.transport.drivers.aiokafka: "Fixes #499")
        await producer.client.force_metadata_update()
        if tracked:
            await track_every_topic(producer)
        await producer.send_and_wait(old, b"warm")  # known: not added to the list
        await _create(settings, new)
        pending = await producer.send(old, b"lingering")
        await producer.send(new, b"first record of a new feed")
        try:
            await asyncio.wait_for(asyncio.shield(pending), 6)
            return True
        except TimeoutError:
            return False
    finally:
        await asyncio.wait_for(producer.stop(), 60)
        await _drop(settings, old, new)


def test_aiokafka_alone_forgets_every_other_topic(settings: HubSettings) -> None:
    assert not asyncio.run(_batch_for_old_topic_after_new_one(settings, tracked=False))


def test_a_producer_tracking_every_topic_keeps_sending(settings: HubSettings) -> None:
    assert asyncio.run(_batch_for_old_topic_after_new_one(settings, tracked=True))
