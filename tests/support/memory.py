"""In-memory implementations of the processor's ports, for broker-less flow tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from dispatch.ports import partition_of

#: first byte of the dispatch's own keys (dispatch.territory, dispatch.redispatch)
OWN = b"\x00"


class MemoryStore:
    """Partitioned like the RocksDB store: a state put under partition p is found only
    when asked in p (or with no partition hint, in the key's murmur2 partition)."""

    def __init__(self, partitions: int = 4) -> None:
        self.data: dict[bytes, bytes] = {}
        #: the dispatch's own records (territorial index, filters applied), by partition
        self.own: dict[tuple[int, bytes], bytes] = {}
        self.where: dict[bytes, int] = {}
        self.partitions = partitions
        self.flushes = 0

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        if key.startswith(OWN):
            return self.own.get((partition if partition is not None else -1, key))
        wanted = partition_of(key, self.partitions) if partition is None else partition
        return self.data.get(key) if self.where.get(key) == wanted else None

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        if key.startswith(OWN):  # the dispatch's own records (index...), per partition
            if value is None:
                self.own.pop((partition, key), None)
            else:
                self.own[(partition, key)] = value
            return
        if value is None:
            self.data.pop(key, None)
            self.where.pop(key, None)
        else:
            self.data[key] = value
            self.where[key] = partition

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        return [k for k in self.data if self.where.get(k) == partition]

    def scan_from(self, partition: int, prefixes: Sequence[bytes], after: bytes,
                  limit: int) -> Iterable[tuple[bytes, bytes]]:
        wanted = set(prefixes)
        spans = [p for p in prefixes if not p.endswith(b"\x00")]  # dispatch.deadlines
        return sorted((k, v) for (p, k), v in self.own.items()
                      if p == partition and k > after
                      and (k[:k.rfind(b"\x00") + 1] in wanted
                           or any(k.startswith(s) for s in spans)))[:limit]  # fmt: skip

    async def flush(self) -> None:
        self.flushes += 1


class MemorySender:
    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        self.sent[topic].append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


async def run_pipelined(proc: Any, records: Sequence[Any], rng: Any, *,
                        max_batch: int = 12, sender: MemorySender | None = None) -> None:
    """Feed ``records`` to ``proc`` (a dispatch Processor) as the worker does: batches cut
    at random (1..``max_batch``), each submitted before the previous one is stored
    (pipelining, depth 1). With ``sender``, what the processor writes to hub.demandes
    itself (DispatchResume) comes back at the end of its partition, as the topic would
    serve it."""
    import itertools

    from dispatch.processor import InputRecord
    from hub.core import topics

    queue = list(records)
    offsets = itertools.count(10_000_000)
    previous = None
    while queue:
        n = rng.randint(1, max_batch)
        batch, queue = queue[:n], queue[n:]
        seen = len(sender.sent.get(topics.DEMANDES, [])) if sender is not None else 0
        sub = await proc.submit(batch)
        if sender is not None:
            for key, value in sender.sent.get(topics.DEMANDES, [])[seen:]:
                assert key is not None
                queue.append(InputRecord(topics.DEMANDES,
                                         partition_of(key, proc.store.partitions),
                                         next(offsets), key, value))  # fmt: skip
        if previous is not None:
            await proc.settle(previous)
        previous = sub
    if previous is not None:
        await proc.settle(previous)
