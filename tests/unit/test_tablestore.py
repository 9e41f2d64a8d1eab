"""dispatch.runtime.tablestore without a broker: a state reaches the local store only once its
changelog record was handed to the producer (the broker side is in
tests/integration/test_tablestore_changelog.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- RocksDB: the index scan a re-dispatch runs (dispatch.redispatch) ------------------
_COMMUNES = ["c:27229", "c:75056", "c:75112", "c:76540", "c:76", "c:7654"]


@settings(max_examples=60, deadline=None)
@given(entries=st.sets(st.tuples(st.sampled_from(_COMMUNES), st.integers(0, 40)), max_size=60),
       wanted=st.sets(st.sampled_from(_COMMUNES), min_size=1),
       cut=st.integers(0, 70), limit=st.integers(1, 30))
def test_rocks_scan_from_is_the_sorted_slice_of_the_wanted_entries(
        tmp_path_factory: Any, entries: set[tuple[str, int]], wanted: set[str], cut: int,
        limit: int) -> None:  # fmt: skip
    """Oracle: every stored key under a wanted prefix, sorted, after ``after``, the first
    ``limit`` — whatever ``after`` is (nothing, a key of a wanted prefix, of another one).
    Commune keys that prefix one another ("c:76" and "c:76540") must not mix: a prefix ends
    with the NUL byte that closes the commune key."""
    from rocksdict import Rdict

    from dispatch import territory
    from dispatch.runtime.tablestore import RocksTableStore

    db = Rdict(str(tmp_path_factory.mktemp("rocks") / "db"))
    try:
        keys = sorted(territory.entry_key(c, f"{n:018d}") for c, n in entries)
        for k in keys:
            db[k] = b"0|T2"
        db[b"0761125000001000001"] = b"a state"  # not an index key
        table = SimpleNamespace(data=SimpleNamespace(_db_for_partition=lambda p: db))
        store = RocksTableStore(table, 1)
        prefixes = sorted(territory.scan_prefix(c) for c in wanted)
        after = b"" if cut >= len(keys) else keys[cut]
        expected = [k for k in keys if k > after
                    and any(k.startswith(p) for p in prefixes)][:limit]  # fmt: skip
        got = [k for k, _ in store.scan_from(0, prefixes, after, limit)]
        assert got == expected
    finally:
        db.close()
