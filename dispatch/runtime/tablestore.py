"""``processor.StateStore`` over the faust table ``demande-state`` (raw bytes).

Two stores, chosen by ``worker.store``:

* ``rocksdict`` (default): the table lives in one RocksDB per changelog partition under
  the worker's data directory. Memory stays bounded by RocksDB's caches (set in
  :data:`ROCKSDB_OPTIONS`) whatever the number of demands (1.9 M nationally), and a
  restarted worker reads only the changelog written since its last persisted offset.
* ``memory``: a dict rebuilt from the whole changelog at each start; fine for small
  stocks and tests, about 1 kB of RAM per demand.

Writes name their changelog partition explicitly: a batch mixes partitions, so the
"current event" faust's stores use to pick a partition is not the key's partition. The
RocksDB store is therefore addressed per partition (``_db_for_partition``, faust-streaming
0.15's store internals, pinned in pyproject) rather than through ``table.data[key]``
(listed with the adapter's other private names in ``dispatch.runtime.private_names``).
The key's partition is the one of hub.demandes (Kafka's default murmur2 partitioner, as
every producer of hub.demandes uses), which is also its changelog partition.

Changelog records go straight to the aiokafka producer under the app, not through faust's
``send_changelog`` (a FutureMessage, a buffer hand-off, sensor hooks and a RocksDB write of
the persisted offset per record: ~8 % of a worker's profile at N = 10). Contract of a
batch's writes (``put`` each state, then ``await flush()``):

* ``put`` queues the write; ``flush`` hands each changelog record to the producer in
  order (waiting only when its buffer is full), then applies the write to the local
  store, so the store never holds a state its changelog was not given. It returns without
  waiting for the acknowledgements, as faust's ``send_soon`` did. faust flushes the
  producer before it commits input offsets (bounded at stop, see ``dispatch.runtime.transport``),
  so no input is committed ahead of its changelog record.
* The persisted offset of a RocksDB partition (where a restart reads the changelog from)
  is written once per batch and partition, when the batch's last changelog record of that
  partition is acknowledged: records of one partition are acknowledged in order.
* ``flush`` raises what the producer raised (a retriable ``DeliveryError``): the writes
  not handed over are dropped, the batch is not acknowledged to faust and its inputs are
  dispatched again (the replay decides them again from the states really stored).
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import TopicPartition as TP

from dispatch.ports import partition_of
from dispatch.sending import DeliveryError

#: RocksDB sizing per partition database: caches bounded so a worker holding 4 partitions
#: of the national stock stays well under 1 GiB of RSS (see docs/performance.md).
ROCKSDB_OPTIONS: dict[str, Any] = {
    "driver": "rocksdict",
    "block_cache_size": 32 * 2**20,
    "block_cache_compressed_size": 0,
    "write_buffer_size": 16 * 2**20,
    "max_write_buffer_number": 2,
    "target_file_size_base": 32 * 2**20,
}

#: faust's own bookkeeping key in each partition database (its persisted offset):
#: faust.stores.rocksdb.Store.offset_key (dispatch.runtime.private_names)
_FAUST_OFFSET_KEY = b"__faust\0offset__"
#: keys of the dispatch's own records beside the states (territorial index, filters
#: applied: dispatch.territory, dispatch.redispatch); no numéro unique starts so
_OWN = b"\x00"


async def _send(producer: Any, topic: str, value: bytes | None, key: bytes, partition: int) -> Any:
    """``producer.send`` to an explicit partition. A changelog topic faust created moments
    before may not list all its partitions in the client's metadata yet (aiokafka asserts
    "Unrecognized partition"): refresh the metadata and try again, for a few seconds."""
    for attempt in range(20):
        try:
            return await producer.send(topic, value, key=key, partition=partition)
        except AssertionError:
            if attempt == 19:
                raise
            await producer.client.force_metadata_update()
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


class _ChangelogStore:
    """A state store whose writes wait for :meth:`flush`, which sends their changelog
    records, then applies them (module doc); subclasses hold the data."""

    def __init__(self, table: Any, partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self._queued: list[tuple[int, bytes, bytes | None]] = []

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        """Queue the write of ``key``'s state (None: delete) until :meth:`flush`."""
        self._queued.append((partition, key, value))

    def _apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return
        topic = self.table.changelog_topic.get_topic_name()
        # aiokafka.AIOKafkaProducer (private_names: Producer._ensure_producer)
        producer = self.table.app.producer._ensure_producer()
        last: dict[int, Any] = {}
        try:
            for partition, key, value in queued:
                last[partition] = await _send(producer, topic, value, key, partition)
                self._apply(partition, key, value)
        except Exception as exc:
            raise DeliveryError(f"changelog not sent: {type(exc).__name__}: {exc}") from exc
        finally:  # what was handed to the producer still marks its partition persisted
            for partition, fut in last.items():
                fut.add_done_callback(functools.partial(self._sent, TP(topic, partition)))

    def _sent(self, tp: TP, fut: Any) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # faust's commit flush waits for it and logs the failure
        self.persisted(tp, fut.result().offset)

    def persisted(self, tp: TP, offset: int) -> None:
        """Changelog partition ``tp`` holds every write up to ``offset``."""


class MemoryTableStore(_ChangelogStore):
    """The faust memory store: a dict in ``table.data`` (rebuilt from the whole changelog
    at start: no persisted offset)."""

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        value = self.table.data.get(key)
        return value if value is None or isinstance(value, bytes) else bytes(value)

    def _apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.table.data.pop(key, None)
        else:
            self.table.data[key] = value

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        n = self.partitions
        return [k for k in list(self.table.data.keys())
                if not k.startswith(_OWN) and partition_of(k, n) == partition]  # fmt: skip

    def scan_from(
        self, partition: int, prefixes: Sequence[bytes], after: bytes, limit: int
    ) -> Iterable[tuple[bytes, bytes]]:
        # one dict for all partitions, no order: a pass over the keys (the memory store
        # is for small stocks); an index key ends with its demand's numéro unique, hence
        # its partition
        wanted, n = set(prefixes), self.partitions
        spans = [p for p in prefixes if not p.endswith(b"\x00")]  # dispatch.deadlines
        found = sorted((k, bytes(v)) for k, v in list(self.table.data.items())
                       if k.startswith(_OWN) and k > after
                       and (k[:k.rfind(b"\x00") + 1] in wanted
                            or any(k.startswith(s) for s in spans))
                       and partition_of(k[k.rfind(b"\x00") + 1:], n) == partition)  # fmt: skip
        return found[:limit]


class RocksTableStore(_ChangelogStore):
    """The faust RocksDB store (rocksdict driver), one database per partition."""

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(
            partition
        )  # private_names: Store._db_for_partition

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        if partition is None:
            partition = partition_of(key, self.partitions)
        value = self._db(partition).get(key)
        return value if value is None or isinstance(value, bytes) else bytes(value)

    def _apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        db = self._db(partition)
        if value is None:
            db.delete(key)
        else:
            db.put(key, value)

    def persisted(self, tp: TP, offset: int) -> None:
        self.table.data.set_persisted_offset(tp, offset)

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        # a snapshot of the keys: the caller writes to the same database while scanning
        return [k for k in self._db(partition).keys()  # noqa: SIM118
                if k != _FAUST_OFFSET_KEY and not k.startswith(_OWN)]  # fmt: skip

    def scan_from(
        self, partition: int, prefixes: Sequence[bytes], after: bytes, limit: int
    ) -> Iterable[tuple[bytes, bytes]]:
        """One seek per prefix from ``after`` (RocksDB keeps keys sorted: the cost is the
        entries returned). ``prefixes`` sorted; the first one is found by bisection: a
        national territory has ~35,000 and a re-dispatch calls this every few dozen
        entries."""
        db = self._db(partition)
        out: list[tuple[bytes, bytes]] = []
        start = bisect.bisect_left(prefixes, after)
        if start and after.startswith(prefixes[start - 1]):
            start -= 1  # ``after`` is a key under that prefix: the rest of it comes first
        for prefix in itertools.islice(prefixes, start, None):
            for k, v in db.items(from_key=max(prefix, after)):
                if not k.startswith(prefix) or len(out) >= limit:
                    break
                if k > after:
                    out.append((k, v if isinstance(v, bytes) else bytes(v)))
            if len(out) >= limit:
                break
        return out


def table_store(table: Any, partitions: int, kind: str) -> MemoryTableStore | RocksTableStore:
    return (
        RocksTableStore(table, partitions)
        if kind == "rocksdict"
        else MemoryTableStore(table, partitions)
    )
