"""A topic of the test's own on the real broker that can be made to refuse writes, as the
audit did (``max.message.bytes`` lowered with the admin client, then restored): the
broker answers ``MESSAGE_TOO_LARGE`` to the hub's producer while reads keep working.
Never the hub's shared topics: other tests and benchmarks use them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import HubSettings
from schemas import get_codec

#: the broker's default max.message.bytes
DEFAULT_MAX = "1048588"
#: a record at least this large is refused while the topic refuses (a GP event is larger)
REFUSED_MAX = "100"
PROBE_KEY = b"probe"


@asynccontextmanager
async def _admin(settings: HubSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    # one per call: a RefusingTopic may be driven from several event loops (asyncio.run
    # between the calls of a synchronous test), and a client belongs to the loop it began in
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@dataclass
class RefusingTopic:
    settings: HubSettings
    name: str

    @classmethod
    async def create(cls, settings: HubSettings, partitions: int = 1) -> RefusingTopic:
        """A fresh topic that accepts records until told otherwise (:meth:`delete` it)."""
        topic = cls(settings, f"test.gp-owed.{uuid.uuid4().hex[:10]}")
        async with _admin(settings) as admin:
            await admin.create_topics([NewTopic(topic.name, partitions, 1)])
        await topic._until(True)
        return topic

    async def delete(self) -> None:
        async with _admin(self.settings) as admin:
            await admin.delete_topics([self.name])

    async def _set(self, value: str) -> None:
        res = ConfigResource(ConfigResourceType.TOPIC, self.name, {"max.message.bytes": value})
        async with _admin(self.settings) as admin:
            await admin.alter_configs([res])

    async def _probe(self) -> bool:
        """Whether the broker takes a 1 kB record now (a producer of its own, so the
        producers under test are not touched)."""
        producer = AIOKafkaProducer(**client_options(self.settings), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(self.name, b"x" * 1024, key=PROBE_KEY)
            return True
        except KafkaError:
            return False
        finally:
            await producer.stop()

    async def refuse(self) -> None:
        """From now on the broker refuses the hub's records to this topic."""
        await self._set(REFUSED_MAX)
        await self._until(False)

    async def accept(self) -> None:
        await self._set(DEFAULT_MAX)
        await self._until(True)

    async def _until(self, taking: bool) -> None:
        deadline = time.monotonic() + 30
        while await self._probe() is not taking:  # the broker applies the change soon after
            assert time.monotonic() < deadline, f"{self.name}: config not applied"
            await asyncio.sleep(0.2)

    async def records(self, expect: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """The ``EvenementGP`` records of the topic in order (probes left out), once at
        least ``expect`` are there or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self._read()
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.3)

    async def _read(self) -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None,
                                    enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        out: list[dict[str, Any]] = []
        try:
            tps = await topic_partitions(consumer, self.name) or []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for msgs in (await consumer.getmany(*tps, timeout_ms=500)).values():
                    for m in msgs:
                        if m.key != PROBE_KEY:
                            out.append(get_codec().decode_as(m.value, "EvenementGP"))
        finally:
            await consumer.stop()
        return out


@asynccontextmanager
async def refusing_topic(settings: HubSettings,
                         partitions: int = 1) -> AsyncIterator[RefusingTopic]:  # fmt: skip
    """:meth:`RefusingTopic.create`, deleted afterwards."""
    topic = await RefusingTopic.create(settings, partitions)
    try:
        yield topic
    finally:
        await topic.delete()
