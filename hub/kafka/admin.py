"""Topic declarations and creation (idempotent)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from hub import topics
from hub.errors import TransientError
from hub.kafka.client import client_options
from hub.settings import HubSettings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def core_topics(settings: HubSettings) -> list[TopicSpec]:
    """The hub's fixed topics. Demand and event topics share the partition count so the
    dispatch state table (keyed like them) is co-partitioned."""
    n = settings.kafka.partitions
    return [
        TopicSpec(topics.DEMANDES, n, {}),
        TopicSpec(topics.EVENEMENTS, n, {}),
        # compacted: the latest registration of each actor, read in full at worker start
        TopicSpec(topics.ACTORS, 1, {"cleanup.policy": "compact"}),
        TopicSpec(topics.DLQ, 1, {}),
    ]


@contextlib.asynccontextmanager
async def _admin(settings: HubSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed after; an unreachable broker is a TransientError."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise TransientError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers}: {exc}"
        ) from exc
    try:
        yield admin
    finally:
        await admin.close()


async def partition_count(settings: HubSettings, topic: str) -> int | None:
    """How many partitions ``topic`` has on the broker (None if it does not exist)."""
    async with _admin(settings) as admin:
        described = await admin.describe_topics([topic])
        for t in described:
            if t.get("topic") == topic and not t.get("error_code"):
                return len(t.get("partitions") or ()) or None
        return None


async def cluster_id(settings: HubSettings) -> str:
    """The broker cluster's id: local state kept for one cluster is never reused on
    another (a wiped or replaced broker starts from empty topics)."""
    async with _admin(settings) as admin:
        described = await admin.describe_cluster()
        return str(described["cluster_id"])


def feed_spec(actor_id: str) -> TopicSpec:
    # One partition per feed: an actor's consumer reads its whole feed in order.
    return TopicSpec(topics.feed_topic(actor_id), 1, {})


async def ensure_topics(settings: HubSettings, specs: list[TopicSpec]) -> list[str]:
    """Create the missing topics among ``specs``; return the names created."""
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=settings.kafka.replication_factor,
                topic_configs=s.config,
            )
            for s in specs
            if s.name not in existing
        ]
        if new:
            # created concurrently by another process: fine
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        return [t.name for t in new]
