"""The one way the hub reads a topic outside a consumer group: from given offsets (the
start by default) up to the end offsets seen when the read begins.

Used wherever a command or a process needs "everything written so far" of a topic: the
actor registry when a worker starts, the dispatch changelog for a purge, the dead-letter
topic, a feed page, the status report. Contracts:

* :func:`standalone_consumer` opens a consumer with no group and no commits (it never
  moves anybody's offsets), with the hub's connection options (TLS, SASL) and a client id
  that says who reads; it is stopped when the block ends, even on error.
* :func:`read_to_end` yields every record of ``topic`` (or of the ``partitions`` given)
  from ``start`` (offset per partition; the beginning where absent) to the end offsets
  taken when it starts: records written afterwards are not waited for, so the read
  always ends. A partition that is empty or already at its end is not read at all.
  When the broker answers nothing new for ``timeout_s`` the read fails with a retriable
  :class:`~hub.core.errors.TransientError` instead of waiting for ever.
* A missing topic reads as empty (no partition), never as an error: callers that need
  the topic say so themselves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from hub.core.errors import TransientError
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import HubSettings


@asynccontextmanager
async def standalone_consumer(settings: HubSettings, purpose: str,
                              **options: object) -> AsyncIterator[AIOKafkaConsumer]:  # fmt: skip
    """A started group-less consumer (no auto-commit) named ``hub-<purpose>-<random>``."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False,
                                client_id=f"hub-{purpose}-{uuid.uuid4().hex[:8]}",
                                **options)  # fmt: skip
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


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
    if not tps:
        return
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    firsts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    start = start or {}
    todo = {tp for tp in tps if max(start.get(tp.partition, 0), firsts[tp]) < ends[tp]}
    if not todo:
        return
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, max(start.get(tp.partition, 0), firsts[tp]))
    last = time.monotonic()
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=max_records)
        if batch:
            last = time.monotonic()
        elif time.monotonic() - last > timeout_s:
            raise TransientError(f"{topic}: not read to its end offsets within {timeout_s:g}s")
        for tp, messages in batch.items():
            for message in messages:
                if message.offset >= ends[tp]:
                    break
                yield message
        for tp in list(todo):
            # compaction and transaction markers leave gaps: the position tells the end
            if await consumer.position(tp) >= ends[tp]:
                todo.discard(tp)
