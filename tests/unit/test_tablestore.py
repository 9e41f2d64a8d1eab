"""dispatch.runtime.tablestore without a broker: a state reaches the local store only once its
changelog record was handed to the producer (the broker side is in
tests/integration/test_tablestore_changelog.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from dispatch.runtime.tablestore import MemoryTableStore
from dispatch.sending import DeliveryError


class _Producer:
    def __init__(self, fail_at: int) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int]] = []
        self.fail_at = fail_at

    async def send(self, topic: str, value: bytes | None, *, key: bytes, partition: int) -> Any:
        if len(self.sent) == self.fail_at:
            raise RuntimeError("producer closed")
        self.sent.append((topic, value, key, partition))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(SimpleNamespace(offset=len(self.sent) - 1))
        return fut


def _table(producer: _Producer) -> Any:
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    topic = SimpleNamespace(get_topic_name=lambda: "app-demande-state-changelog")
    return SimpleNamespace(app=app, changelog_topic=topic, data={})


def test_writes_reach_the_store_only_after_their_changelog_record() -> None:
    producer = _Producer(fail_at=2)
    store = MemoryTableStore(_table(producer), 4)
    for key in (b"a", b"b", b"c"):
        store.put(key, 1, key.upper())
    assert store.get(b"a") is None  # queued, not applied before the flush
    with pytest.raises(DeliveryError, match="changelog not sent"):
        asyncio.run(store.flush())
    assert [k for _, _, k, _ in producer.sent] == [b"a", b"b"]
    assert (store.get(b"a"), store.get(b"b"), store.get(b"c")) == (b"A", b"B", None)
    producer.fail_at = -1  # the dropped write is not sent by a later flush
    store.put(b"a", 1, None)
    asyncio.run(store.flush())
    assert producer.sent[-1] == ("app-demande-state-changelog", None, b"a", 1)
    assert store.get(b"a") is None and len(producer.sent) == 3


class _StaleMetadataProducer(_Producer):
    """aiokafka's send asserts "Unrecognized partition" while its metadata does not list
    the partition of a changelog topic created moments before."""

    def __init__(self, stale_sends: int) -> None:
        super().__init__(fail_at=-1)
        self.stale, self.refreshes = stale_sends, 0
        self.client = SimpleNamespace(force_metadata_update=self._refresh)

    async def _refresh(self) -> bool:
        self.refreshes += 1
        return True

    async def send(self, topic: str, value: bytes | None, *, key: bytes, partition: int) -> Any:
        if self.stale:
            self.stale -= 1
            raise AssertionError("Unrecognized partition")
        return await super().send(topic, value, key=key, partition=partition)


def test_a_new_changelog_topic_missing_from_the_metadata_is_waited_for() -> None:
    producer = _StaleMetadataProducer(stale_sends=2)
    store = MemoryTableStore(_table(producer), 4)
    store.put(b"a", 3, b"A")
    asyncio.run(store.flush())  # used to fail the batch, and now stop the worker
    assert producer.refreshes == 2 and store.get(b"a") == b"A"
