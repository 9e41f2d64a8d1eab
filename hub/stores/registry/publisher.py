"""Publishing actor changes: the compacted registry topic plus one control record per
partition of hub.demandes, so every partition re-evaluates its demands in stream order."""

from __future__ import annotations

import asyncio
import time
import uuid

from hub.core import topics
from hub.core.errors import TransientError
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import new_producer
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from schemas import get_codec


class KafkaActorPublisher:
    """Implements ``hub.stores.registry.service.ActorPublisher`` over Kafka (blocking calls)."""

    def __init__(self, settings: HubSettings) -> None:
        self._settings = settings

    def publish(self, actor: Actor, *, deleted: bool) -> None:
        asyncio.run(self.publish_async(actor, deleted=deleted))

    async def publish_async(self, actor: Actor, *, deleted: bool) -> None:
        codec = get_codec()
        specs = core_topics(self._settings)
        if not deleted:
            specs.append(feed_spec(actor.id))
        await ensure_topics(self._settings, specs)
        if self._settings.kafka_security.enabled:  # per-actor SCRAM + ACLs (issue 7)
            from hub.core.kafka.isolation import deprovision_actor, provision_actor

            if deleted:
                await deprovision_actor(self._settings, actor.id)
            else:
                await provision_actor(self._settings, actor.id)
        registration = actor.to_avro(deleted=deleted)
        control = codec.encode(
            "DispatchControl",
            {
                "controlId": str(uuid.uuid4()),
                "issuedAt": int(time.time() * 1000),
                "actor": registration,
            },
        )
        producer = new_producer(self._settings)
        try:
            await producer.start()
            key = actor.id.encode()
            value = None if deleted else codec.encode("ActorRegistration", registration)
            # Tombstone on removal so compaction forgets the actor; workers learn of the
            # removal from the control record, which carries deleted=true.
            await producer.send_and_wait(topics.ACTORS, value, key=key)
            for partition in sorted(await producer.partitions_for(topics.DEMANDES)):
                await producer.send(topics.DEMANDES, control, key=key, partition=partition)
            await producer.flush()
        except Exception as exc:  # aiokafka raises several unrelated types
            raise TransientError(f"could not publish actor {actor.id!r}: {exc}") from exc
        finally:
            await producer.stop()
