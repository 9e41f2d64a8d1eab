"""The ledger and the checker, without a broker: the in-memory processor (same code as the
worker's) against the ledger, a crash between send and store, and the checker catching
each kind of fault on doctored feeds (so the fault runs cannot pass vacuously)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.matching import TerritoryIndex
from reliability.checker import check
from reliability.ledger import Ledger, generate
from tests.support.memory import MemorySender, MemoryStore

N = 4


@pytest.fixture(scope="module")
def ledger(geography: Any) -> Ledger:
    return generate(geography, events=300, seed=11, departement="76", actors=8, prefix="t")


class CrashingStore(MemoryStore):
    """Fails on the ``crash_at``-th put: the sends of that batch went out, its state not."""

    def __init__(self, crash_at: int) -> None:
        super().__init__(N)
        self.puts, self.crash_at = 0, crash_at

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        self.puts += 1
        if self.puts == self.crash_at:
            raise RuntimeError("crash")
        super().put(key, partition, value)


def _records(ledger: Ledger, codec: Any) -> list[InputRecord]:
    from aiokafka.partitioner import murmur2

    out, offsets = [], [0] * N
    for ev in ledger.events:
        key = ev["numUnique"].encode()
        p = (murmur2(key) & 0x7FFFFFFF) % N
        out.append(InputRecord(topics.DEMANDES, p, offsets[p], key,
                               codec.encode("DemandeEvent", ev)))  # fmt: skip
        offsets[p] += 1
    return out


def _dispatch(ledger: Ledger, codec: Any, geography: Any, store: MemoryStore,
              batch: int = 50) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    index = TerritoryIndex(geography, ledger.actors)
    sender = MemorySender()
    proc = Processor(index, codec, store, sender)
    records = _records(ledger, codec)
    i = 0
    while i < len(records):
        try:
            asyncio.run(proc.process(records[i : i + batch]))
            i += batch
        except RuntimeError:  # "crash": the batch is replayed, as after a worker restart
            store.crash_at = -1  # type: ignore[attr-defined]
    sent = sender.sent
    return {a.id: [codec.decode_as(v, "FeedRecord") for _, v in
                   sent.get(topics.feed_topic(a.id), [])] for a in ledger.actors}  # fmt: skip


def test_ledger_matches_the_dispatcher(ledger: Ledger, codec: Any, geography: Any) -> None:
    feeds = _dispatch(ledger, codec, geography, MemoryStore(N))
    fig = check(ledger, feeds)
    assert fig.owed > len(ledger.events)  # several actors per demand
    assert (fig.lost, fig.duplicated_raw, fig.reordered, fig.out_of_scope) == (0, 0, 0, 0)
    assert fig.delivered_raw == fig.owed


def test_crash_between_send_and_store_gives_dedupable_duplicates(
    ledger: Ledger, codec: Any, geography: Any
) -> None:
    feeds = _dispatch(ledger, codec, geography, CrashingStore(crash_at=120))
    fig = check(ledger, feeds)
    assert fig.duplicated_raw > 0  # the replayed batch was sent twice ...
    assert fig.ok  # ... with the same ids: nothing lost, reordered or out of scope


def _feeds(ledger: Ledger, codec: Any, geography: Any) -> dict[str, list[dict[str, Any]]]:
    return _dispatch(ledger, codec, geography, MemoryStore(N))


def test_checker_counts_each_fault(ledger: Ledger, codec: Any, geography: Any) -> None:
    clean = _feeds(ledger, codec, geography)
    busy = max(clean, key=lambda a: len(clean[a]))
    other = min(clean, key=lambda a: len(clean[a]))

    lost = copy.deepcopy(clean)
    del lost[busy][3]
    assert check(ledger, lost).lost == 1

    dup = copy.deepcopy(clean)
    dup[busy].append(dup[busy][0])
    fig = check(ledger, dup)
    assert (fig.duplicated_raw, fig.ok) == (1, True)

    foreign = copy.deepcopy(clean)
    stranger = next(r for r in clean[busy] if (r["eventId"], r["kind"]) not in
                    {(x["eventId"], x["kind"]) for x in clean[other]})  # fmt: skip
    foreign[other].append(stranger)
    assert check(ledger, foreign).out_of_scope == 1

    redo = copy.deepcopy(clean)
    redo[busy].append({**redo[busy][0], "eventId": "not-the-same-id"})
    assert check(ledger, redo).out_of_scope == 1  # an undedupable copy is a breach too

    swapped = copy.deepcopy(clean)
    recs = swapped[busy]
    nums: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        nums.setdefault(r["numUnique"], []).append(i)
    i, j = next(v for v in nums.values() if len(v) > 1)[:2]
    recs[i], recs[j] = recs[j], recs[i]
    assert check(ledger, swapped).reordered == 1
