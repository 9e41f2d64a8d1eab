"""Reading the compacted hub.actors topic in full, to build a worker's territory index."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer

from hub.core import topics
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.matching import TerritoryIndex
from schemas import get_codec


async def load_actors(settings: HubSettings, index: TerritoryIndex) -> int:
    """Apply every registration on hub.actors up to its current end; return the count of
    actors in the index afterwards. Tombstones remove; older versions never override."""
    codec = get_codec()
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        client_id=f"passerelle-actors-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topics.ACTORS) or []
        if not tps:
            return len(index)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.value is None:
                        if m.key is not None:
                            index.remove(m.key.decode())
                    else:
                        index.upsert(Actor.from_avro(codec.decode_as(m.value, "ActorRegistration")))
                    if m.offset + 1 >= end[tp]:
                        remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return len(index)
    finally:
        await consumer.stop()
