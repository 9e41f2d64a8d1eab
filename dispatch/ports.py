"""The processor's ports and input: the state store it reads and writes, and one input
record as the transport hands it over (the Kafka record model: a null value, no key and
headers are legal). The sender port is :class:`dispatch.sending.Sender`.

:mod:`dispatch.processor` re-exports both names (``from dispatch.processor import
StateStore``) for the modules and tests written before this split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka.partitioner import murmur2

__all__ = ["InputRecord", "StateStore", "partition_of"]


class StateStore(Protocol):
    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        """The state of ``key``; ``partition``: where it was stored (its input
        partition), when known."""
        ...

    def put(self, key: bytes, partition: int, value: bytes | None) -> None: ...
    async def flush(self) -> None:
        """Send what the ``put`` calls since the last flush must send (a changelog);
        called once per batch, after its puts."""
        ...

    def keys_of_partition(self, partition: int) -> Iterable[bytes]:
        """The demand keys stored in ``partition`` (not the index's own keys)."""
        ...

    def scan_from(
        self, partition: int, prefixes: Sequence[bytes], after: bytes, limit: int
    ) -> Iterable[tuple[bytes, bytes]]:
        """Up to ``limit`` stored (key, value) pairs of ``partition`` whose key starts with
        one of ``prefixes``, in key order, after ``after``. A prefix ending with a NUL byte
        is followed by a numéro unique (dispatch.territory); the others (dispatch.deadlines)
        span keys ending with one."""
        ...

    #: the number of partitions of the input topic (and of the store)
    partitions: int


@dataclass(frozen=True, slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    #: None: a tombstone (dead-lettered, see dispatch.letters)
    value: bytes | None
    #: Kafka record headers; only ``dispatch.letters.REPLAY_HEADER`` is read (DLQ replay history)
    headers: tuple[tuple[str, bytes], ...] = ()
    #: the record's Kafka timestamp (ms): when the hub took it in (latency source)
    timestamp_ms: int | None = None


def partition_of(key: bytes, partitions: int) -> int:
    """The hub.demandes partition of ``key`` (Kafka's default partitioner)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
