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
0.15's store internals, pinned in pyproject) rather than through ``table.data[key]``.
The key's partition is the one of hub.demandes (Kafka's default murmur2 partitioner, as
every producer of hub.demandes uses), which is also its changelog partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import murmur2

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

#: faust's own bookkeeping key in each partition database (its persisted offset)
_FAUST_OFFSET_KEY = b"__faust\0offset__"


def partition_of(key: bytes, partitions: int) -> int:
    """The hub.demandes partition of ``key`` (Kafka's default partitioner)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


class MemoryTableStore:
    """The faust memory store: a dict in ``table.data``."""

    def __init__(self, table: Any, partitions: int) -> None:
        self.table = table
        self.partitions = partitions

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        value = self.table.data.get(key)
        return value if value is None or isinstance(value, bytes) else bytes(value)

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        if value is None:
            self.table.data.pop(key, None)
            self.table.send_changelog(partition, key, None, value_serializer="raw")
        else:
            self.table.data[key] = value
            self.table.send_changelog(partition, key, value)

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        n = self.partitions
        return [k for k in list(self.table.data.keys()) if partition_of(k, n) == partition]


class RocksTableStore:
    """The faust RocksDB store (rocksdict driver), one database per partition."""

    def __init__(self, table: Any, partitions: int) -> None:
        self.table = table
        self.partitions = partitions

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        if partition is None:
            partition = partition_of(key, self.partitions)
        value = self._db(partition).get(key)
        return value if value is None or isinstance(value, bytes) else bytes(value)

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        db = self._db(partition)
        if value is None:
            db.delete(key)
            self.table.send_changelog(partition, key, None, value_serializer="raw")
        else:
            db.put(key, value)
            self.table.send_changelog(partition, key, value)

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        # a snapshot of the keys: the caller writes to the same database while scanning
        return [k for k in self._db(partition).keys() if k != _FAUST_OFFSET_KEY]  # noqa: SIM118


def table_store(table: Any, partitions: int, kind: str) -> MemoryTableStore | RocksTableStore:
    return RocksTableStore(table, partitions) if kind == "rocksdict" else MemoryTableStore(
        table, partitions)
