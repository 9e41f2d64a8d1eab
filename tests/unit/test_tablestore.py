"""dispatch.tablestore without a broker: a state reaches the local store only once its
changelog record was handed to the producer (the broker side is in
tests/integration/test_tablestore_changelog.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from dispatch.sending import DeliveryError
from dispatch.tablestore import MemoryTableStore


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
