"""Reading the compacted hub.actors topic in full, to build a worker's territory index."""

from __future__ import annotations

from hub.core import topics
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.matching import TerritoryIndex
from schemas import get_codec


async def load_actors(settings: HubSettings, index: TerritoryIndex) -> int:
    """Apply every registration on hub.actors up to its current end; return the count of
    actors in the index afterwards. Tombstones remove; older versions never override."""
    codec = get_codec()
    async with standalone_consumer(settings, "actors") as consumer:
        async for m in read_to_end(consumer, topics.ACTORS):
            if m.value is None:
                if m.key is not None:
                    index.remove(m.key.decode())
            else:
                index.upsert(Actor.from_avro(codec.decode_as(m.value, "ActorRegistration")))
    return len(index)
