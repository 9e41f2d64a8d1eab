"""The state stores' changelog, sent straight to the producer (dispatch.runtime.tablestore), on the
real broker: every write reaches the changelog in order, and a RocksDB partition's
persisted offset is written once per batch, at the offset of its last record."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from dispatch.runtime.app import create_app
from dispatch.runtime.tablestore import table_store
from hub.core.settings import HubSettings
from tests.support.sne import free_port


async def _changelog(bootstrap: str, topic: str, partition: int) -> list[tuple[bytes, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[tuple[bytes, Any]] = []
        while len(out) < end:
            for records in (await consumer.getmany(tp, timeout_ms=2000)).values():
                out += [(r.key, r.value) for r in records]
        return out
    finally:
        await consumer.stop()


@pytest.mark.parametrize("kind", ["rocksdict", "memory"])
def test_a_batch_of_writes_reaches_the_changelog_with_one_persisted_offset(
    settings: HubSettings, tmp_path: Any, kind: str
) -> None:
    worker = settings.worker.model_copy(update={
        "app_id": f"tablestore-{uuid.uuid4().hex[:8]}", "web_port": free_port(), "store": kind})
    s = settings.model_copy(update={"worker": worker, "home": tmp_path})

    async def scenario() -> None:
        app = create_app(s)
        table = app.tables["demande-state"]
        await app.producer.start()
        try:
            await table.changelog_topic.maybe_declare()
            store = table_store(table, s.kafka.partitions, kind)
            persisted: list[tuple[int, int]] = []
            if kind == "rocksdict":
                real = table.data.set_persisted_offset
                table.data.set_persisted_offset = lambda tp, off: (
                    persisted.append((tp.partition, off)), real(tp, off))
            for batch in range(2):
                store.put(b"a", 1, b"A%d" % batch)
                store.put(b"b", 1, b"B%d" % batch)
                store.put(b"c", 2, b"C")
                store.put(b"c", 2, None)  # a tombstone
                await store.flush()
                await app.producer.flush()
            await asyncio.sleep(0.1)  # acknowledgement callbacks
            topic = table.changelog_topic.get_topic_name()
            bootstrap = s.kafka.bootstrap_servers
            assert await _changelog(bootstrap, topic, 1) == [
                (b"a", b"A0"), (b"b", b"B0"), (b"a", b"A1"), (b"b", b"B1")]
            assert await _changelog(bootstrap, topic, 2) == [(b"c", b"C"), (b"c", None)] * 2
            assert store.get(b"a", 1) == b"A1" and store.get(b"c", 2) is None
            if kind == "rocksdict":  # one write per partition and batch, not per record
                assert sorted(persisted) == [(1, 1), (1, 3), (2, 1), (2, 3)]
                assert table.data.persisted_offset(TP(topic, 1)) == 3
        finally:
            await app.producer.stop()

    asyncio.run(scenario())
