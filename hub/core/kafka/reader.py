"""The one way the hub reads a topic outside a consumer group: from given offsets (the
start by default) up to the end offsets seen when the read begins.

Used wherever a command or a process needs "everything written so far" of a topic:

* :mod:`hub.services.dlq`: the dead-letter topic and its replay ledger, and one record at
  a letter's source position;
* :mod:`hub.services.purge`: the dispatch state changelog;
* :mod:`hub.services.status`: the last records of every feed (their time), with
  :func:`read_partitions` over many topics at once (the status opens and closes its
  consumer itself: both bounded, a failure is one line of the report, never a hang);
* :mod:`hub.core.kafka.feed_pages`: a page of an actor's feed (the REST feed, the push
  channels), bounded by ``ends``;
* the actor registry when a worker starts, the outbound helpers (connectors, dispatch).

Not users, on purpose: :func:`hub.services.feeds.read_feed` follows a feed for ever (its
``exit_at_end`` mode stops at the same end offsets) and
:func:`~hub.services.feeds.count_deliveries` waits for records still to come: both open a
:func:`standalone_consumer` but read on; the audit recorder
(:mod:`hub.stores.audit.recorder`) is a committed group consumer of a topic pattern;
:func:`hub.core.kafka.admin.wait_ready` only asks for end offsets (no record is read), and
:mod:`hub.stores.access.fold` folds a feed page by page through the feed pages above.

Contracts:

* :func:`standalone_consumer` opens a consumer with no group and no commits (it never
  moves anybody's offsets), with the hub's connection options (TLS, SASL) and a client id
  that says who reads; it is stopped when the block ends, even on error. A broker that
  cannot be reached (or, with ``timeout_s``, does not answer the start in time) is a
  :class:`~hub.core.errors.KafkaUnavailableError` (:func:`hub.core.kafka.client.start_client`);
  with ``timeout_s``, any other failure of the start is a
  :class:`~hub.core.errors.TransientError` ("Kafka unavailable") too.
* :func:`read_to_end` yields every record of ``topic`` (or of the ``partitions`` given)
  from ``start`` (offset per partition; the beginning where absent) to the end offsets
  taken when it starts: records written afterwards are not waited for, so the read
  always ends. A partition that is empty or already at its end is not read at all.
  When the broker answers nothing new for ``timeout_s`` the read fails with a retriable
  :class:`~hub.core.errors.TransientError` instead of waiting for ever.
* :func:`read_partitions` is the same over chosen partitions of any topics, with a start
  offset each and, optionally, the offset to stop before (``ends``: lower than the end
  offsets for a page, or end offsets the caller already holds).
* A missing topic reads as empty (no partition), never as an error: callers that need
  the topic say so themselves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from hub.core.errors import TransientError
from hub.core.kafka.client import client_options, start_client, topic_partitions
from hub.core.settings import HubSettings


@asynccontextmanager
async def standalone_consumer(settings: HubSettings, purpose: str, *,
                              timeout_s: float | None = None,
                              **options: object) -> AsyncIterator[AIOKafkaConsumer]:  # fmt: skip
    """A started group-less consumer (no auto-commit) named ``hub-<purpose>-<random>``;
    with ``timeout_s``, its start is bounded (see the module doc)."""
    consumer = group_less_consumer(settings, purpose, **options)
    try:
        if timeout_s is None:
            await start_client(consumer, settings)
        else:
            await start_bounded(consumer, settings, timeout_s)
        yield consumer
    finally:
        await consumer.stop()


def group_less_consumer(settings: HubSettings, purpose: str,
                        **options: object) -> AIOKafkaConsumer:  # fmt: skip
    """A consumer with no group and no commits named ``hub-<purpose>-<random>``, not
    started (:func:`standalone_consumer`; kept open: :mod:`hub.core.kafka.feed_pool`)."""
    return AIOKafkaConsumer(**client_options(settings), group_id=None,
                            enable_auto_commit=False,
                            client_id=f"hub-{purpose}-{uuid.uuid4().hex[:8]}",
                            **options)  # fmt: skip


async def start_bounded(consumer: AIOKafkaConsumer, settings: HubSettings,
                        timeout_s: float) -> None:  # fmt: skip
    """Start ``consumer`` within ``timeout_s``; any failure of the start is a
    :class:`~hub.core.errors.TransientError` ("Kafka unavailable", module doc)."""
    try:
        await start_client(consumer, settings, timeout_s=timeout_s)
    except (KafkaError, OSError) as exc:
        raise TransientError(f"Kafka unavailable: {type(exc).__name__}") from None


async def read_to_end(
    consumer: AIOKafkaConsumer,
    topic: str,
    *,
    partitions: Iterable[int] | None = None,
    start: dict[int, int] | None = None,
    timeout_s: float = 30.0,
    max_records: int = 5000,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from ``start`` (per partition; the beginning where not
    given) to the end offsets of the moment the read begins, partition by partition in
    offset order (no order across partitions)."""
    tps = await topic_partitions(consumer, topic) or []
    if partitions is not None:
        wanted = set(partitions)
        tps = [tp for tp in tps if tp.partition in wanted]
    start = start or {}
    async for message in read_partitions(consumer, {tp: start.get(tp.partition, 0) for tp in tps},
                                         timeout_s=timeout_s, max_records=max_records):  # fmt: skip
        yield message


async def read_partitions(
    consumer: AIOKafkaConsumer,
    start: Mapping[TopicPartition, int],
    *,
    ends: Mapping[TopicPartition, int] | None = None,
    timeout_s: float = 30.0,
    max_records: int = 5000,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of the partitions of ``start``, each from its start offset (or its
    first offset, when retention removed the start) to its end offset of the moment the
    read begins, or to ``ends`` where given (exclusive), partition by partition in offset
    order. The partitions must exist."""
    tps = list(start)
    if not tps:
        return
    stops = dict(ends) if ends is not None else {}
    missing = [tp for tp in tps if tp not in stops]
    if missing:
        stops.update(await consumer.end_offsets(missing))
    firsts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    begins = {tp: max(start[tp], firsts[tp]) for tp in tps}
    todo = {tp for tp in tps if begins[tp] < stops[tp]}
    if not todo:
        return
    consumer.assign(sorted(todo, key=lambda tp: (tp.topic, tp.partition)))
    for tp in todo:
        consumer.seek(tp, begins[tp])
    last = time.monotonic()
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=max_records)
        if batch:
            last = time.monotonic()
        elif time.monotonic() - last > timeout_s:
            names = sorted({tp.topic for tp in todo})
            raise TransientError(f"{', '.join(names[:3])}{' …' if len(names) > 3 else ''}: "
                                 f"not read to its end offsets within {timeout_s:g}s")  # fmt: skip
        for tp, messages in batch.items():
            for message in messages:
                if message.offset >= stops[tp]:
                    break
                yield message
        for tp in list(todo):
            # compaction and transaction markers leave gaps: the position tells the end
            if await consumer.position(tp) >= stops[tp]:
                todo.discard(tp)
