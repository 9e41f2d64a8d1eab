"""The letters already on ``hub.dlq``, read when a worker starts, so that it does not write
them again.

Why: a worker stopped by ``worker.max_consecutive_dead_letters``
(:class:`dispatch.processor.TooManyDeadLetters`) commits nothing of the run of refusals
that stopped it. Restarted, it reads the same records, refuses them again and stops at the
same record: that restart loop is the documented signal (docs/operations.md), and it holds
the records for a fixed version or a higher cap. But each restart used to write the whole
run to ``hub.dlq`` again, a copy per restart for as long as the loop lasted (the topic
keeps its records for ever). A refusal whose letter is among the last letters of
``hub.dlq`` is now counted as before (the cap still stops the worker at the same record)
and not written again.

Known are the letters read from the broker, and the letters of this process's batches once
the broker acknowledged them (:meth:`KnownLetters.add_all` at settlement): both are durable.
A letter only sent is never assumed written (its batch may fail and be decided again). So a
batch decided again in the same process (a rebalance before its commit) does not write its
letters twice either. The most recent :data:`MAX_READ` are kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from hub.core import topics
from hub.core.kafka.client import topic_partitions
from hub.core.kafka.reader import read_partitions, standalone_consumer
from hub.core.settings import HubSettings
from schemas import get_codec

log = logging.getLogger(__name__)

#: what tells two letters of the same source record apart from letters of two records:
#: (source topic, partition, offset, reason, key, digest of the payload or None)
Identity = tuple[str, int, int, str, bytes | None, bytes | None]
#: most letters read at start, whatever the cap
MAX_READ = 20_000


def _digest(value: bytes | None) -> bytes | None:
    return None if value is None else hashlib.blake2b(value, digest_size=16).digest()


def refusal_identity(topic: str, partition: int, offset: int, reason: str, key: bytes | None,
                     value: bytes | None) -> Identity:  # fmt: skip
    """The identity of the letter refusing this record would have. A letter that could not
    keep its payload (too large) never matches a record with a value: written again."""
    return (topic, partition, offset, reason, key, _digest(value))


def letter_identity(body: dict[str, Any]) -> Identity:
    key = body.get("key")
    return (str(body["sourceTopic"]), int(body["sourcePartition"]), int(body["sourceOffset"]),
            str(body["reason"]), None if key is None else bytes(key),
            _digest(None if body["payload"] is None else bytes(body["payload"])))  # fmt: skip


class KnownLetters:
    """Identities of letters known to be on ``hub.dlq`` (module doc), the most recent
    ``limit`` kept: memory stays bounded however many letters a worker writes."""

    def __init__(self, limit: int = MAX_READ) -> None:
        self.limit = limit
        self._ids: dict[Identity, None] = {}  # insertion-ordered: the oldest go first

    def add_all(self, ids: Iterable[Identity]) -> None:
        for i in ids:
            self._ids.pop(i, None)
            self._ids[i] = None
        while len(self._ids) > self.limit:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, identity: object) -> bool:
        return identity in self._ids

    def __len__(self) -> int:
        return len(self._ids)


async def recent_letters(settings: HubSettings, count: int) -> set[Identity]:
    """The identities of the last ``count`` (at most :data:`MAX_READ`) records of
    ``hub.dlq`` that are readable letters. Empty, with a warning, when they cannot be
    read: the worker then writes its letters as before."""
    codec = get_codec()
    found: set[Identity] = set()
    try:
        async with standalone_consumer(settings, "dlq-tail") as consumer:
            tps = await topic_partitions(consumer, topics.DLQ) or []
            if not tps:
                return found
            ends = await consumer.end_offsets(tps)
            start = {tp: max(0, ends[tp] - min(count, MAX_READ)) for tp in tps}
            async for m in read_partitions(consumer, start, ends=ends):
                try:
                    found.add(letter_identity(codec.decode_as(m.value, "DeadLetter")))
                except Exception:  # not a letter (hub dlq list shows it): nothing to know
                    continue
    except Exception as exc:  # at worst duplicates, as before; never a worker not started
        log.warning("last letters of %s not read (%s): a refusal already dead-lettered "
                    "may be written again", topics.DLQ, type(exc).__name__)  # fmt: skip
        return set()
    return found
