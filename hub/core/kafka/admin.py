"""Topic declarations and creation (idempotent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.errors import TransientError
from hub.core.kafka.client import client_options, start_client
from hub.core.settings import HubSettings

log = logging.getLogger(__name__)


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
    """A started admin client, closed after; an unreachable broker is a
    :class:`~hub.core.errors.KafkaUnavailableError` (a TransientError)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
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


async def committed_offsets(
    settings: HubSettings, group: str, topic: str, partitions: Sequence[int]
) -> dict[int, int]:
    """The offsets ``group`` committed on ``partitions`` of ``topic`` (the next one it
    reads: a record at ``o`` was processed when it is above ``o``); -1 for none."""
    tps = [TopicPartition(topic, p) for p in partitions]
    async with _admin(settings) as admin:
        try:
            got = await admin.list_consumer_group_offsets(group, partitions=tps)
        except KafkaError as exc:  # a coordinator moving, loading, a request timed out
            raise TransientError(f"offsets of group {group!r} not read: {exc!r}") from exc
    out = {}
    for tp in tps:
        meta = got.get(tp)
        out[tp.partition] = -1 if meta is None or meta.offset < 0 else int(meta.offset)
    return out


async def cluster_id(settings: HubSettings) -> str:
    """The broker cluster's id: local state kept for one cluster is never reused on
    another (a wiped or replaced broker starts from empty topics)."""
    async with _admin(settings) as admin:
        described = await admin.describe_cluster()
        return str(described["cluster_id"])


def feed_spec(actor_id: str) -> TopicSpec:
    # One partition per feed: an actor's consumer reads its whole feed in order.
    return TopicSpec(topics.feed_topic(actor_id), 1, {})


#: how long ``ensure_topics`` waits for new topics to take writes
READY_TIMEOUT_S = 120.0


async def ensure_topics(settings: HubSettings, specs: list[TopicSpec]) -> list[str]:
    """Create the missing topics among ``specs``; return the names created, once every
    partition of them is ready to take writes (``wait_ready``)."""
    created = await _create_missing(settings, specs)
    if created:
        await wait_ready(client_options(settings), created, READY_TIMEOUT_S)
    return created


async def known_partitions(
    consumer: AIOKafkaConsumer, names: Sequence[str]
) -> list[TopicPartition]:
    """The partitions of ``names``, once ``consumer``'s own metadata knows every one of
    them (a topic created just before is not in its cached metadata; end offsets of a
    topic it does not track fail). Polls until then: bound it with a timeout."""
    client = consumer._client
    await client.set_topics(set(client._topics) | set(names))
    while not all(client.cluster.partitions_for_topic(n) for n in names):
        await client.force_metadata_update()
        await asyncio.sleep(0.1)
    return [
        TopicPartition(n, p)
        for n in names
        for p in sorted(client.cluster.partitions_for_topic(n) or ())
    ]


async def wait_ready(options: dict[str, Any], names: Sequence[str], timeout: float) -> None:
    """Return once every partition of ``names`` answers a ListOffsets request.

    A created topic is in the metadata before its broker has loaded its partitions:
    writes in between get NOT_LEADER_OR_FOLLOWER, and aiokafka's producer does not always
    recover from that (aio-libs/aiokafka#1018: with 2,000 new feed topics a worker's
    producer spun on metadata requests for minutes). ListOffsets is served by the same
    replica manager as Produce, so its success means the partition takes writes; the
    consumer retries it (retriable errors) until its own timeout.
    Raises TransientError when ``timeout`` s pass first."""
    consumer = AIOKafkaConsumer(**options, request_timeout_ms=int(timeout * 1000))
    quiet = _NotYetKnown(names)
    logging.getLogger("aiokafka.cluster").addFilter(quiet)
    try:
        await consumer.start()
        async with asyncio.timeout(timeout):
            await consumer.end_offsets(await known_partitions(consumer, names))
    except (TimeoutError, KafkaError) as exc:
        raise TransientError(
            f"{len(names)} new topics not ready for writes after {timeout:g}s: {exc!r}"
        ) from exc
    finally:
        logging.getLogger("aiokafka.cluster").removeFilter(quiet)
        await consumer.stop()


class _NotYetKnown(logging.Filter):
    """Drops aiokafka's "Topic X not found in cluster metadata" errors for topics just
    created: the broker's metadata lags the controller's for a moment, and with 2,000 new
    topics each metadata poll logged 2,000 of them."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = frozenset(names)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        expected = record.msg == "Topic %s not found in cluster metadata"
        return not (expected and bool(args) and args[0] in self.names)


#: how long ``_create_missing`` retries a retriable broker error (a node not ready yet,
#: a request timed out on a loaded broker) before it gives up with a TransientError
CREATE_RETRY_S = 30.0
_CREATE_BACKOFF = Backoff(initial_s=0.2, max_s=2.0)


async def _create_missing(settings: HubSettings, specs: list[TopicSpec]) -> list[str]:
    """Create the topics of ``specs`` the broker lacks; return their names. A retriable
    Kafka error (``KafkaError.retriable``: node not ready, request timed out, connection
    lost) is retried with the hub's back-off for :data:`CREATE_RETRY_S`, then raised as
    a :class:`~hub.core.errors.TransientError` naming it; others are raised at once.

    Why: one metadata request failing on a broker busy for a moment (seen in CI: the
    listing of topics before an actor's registration) made the whole registration fail,
    although a second request a moment later is answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CREATE_RETRY_S
    for delay in _CREATE_BACKOFF.delays():
        try:
            return await _create_missing_once(settings, specs)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            if loop.time() + delay > deadline:
                raise TransientError(
                    f"Kafka did not create the topics {sorted(s.name for s in specs)} "
                    f"within {CREATE_RETRY_S:g}s: {type(exc).__name__}"
                ) from exc
            log.info("topic creation: %s, retried in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: delays() never ends")


async def _create_missing_once(settings: HubSettings, specs: list[TopicSpec]) -> list[str]:
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
