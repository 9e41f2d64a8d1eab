"""In-memory implementations of the processor's ports, for broker-less flow tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import murmur2


class MemoryStore:
    def __init__(self, partitions: int = 4) -> None:
        self.data: dict[bytes, bytes] = {}
        self.partitions = partitions

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        return [k for k in self.data if (murmur2(k) & 0x7FFFFFFF) % self.partitions == partition]


class MemorySender:
    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)

    def send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        self.sent[topic].append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut
