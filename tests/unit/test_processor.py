"""The dispatch processor end to end in memory: the same flow the faust agent runs."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka.partitioner import murmur2

from dispatch.processor import InputRecord, Processor, TooManyDeadLetters
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

ROUEN, LE_HAVRE = "76540", "76351"
N = 4


def rec(codec, name: str, body: dict, offset: int, key: bytes | None = None) -> InputRecord:  # type: ignore[no-untyped-def]
    value = codec.encode(name, body)
    k = key if key is not None else body.get("numUnique", "x").encode()
    return InputRecord(topics.DEMANDES, (murmur2(k) & 0x7FFFFFFF) % N, offset, k, value)


def actor(aid: str, version: int = 1, profile: str = "consultant_simple", **f: object) -> Actor:
    return Actor(
        id=aid,
        name=aid,
        kind="bailleur",
        version=version,
        profile=profile,  # type: ignore[arg-type]
        filters=ActorFilters(**f),
    )  # type: ignore[arg-type]


@pytest.fixture()
def world(geography, codec):  # type: ignore[no-untyped-def]
    index = TerritoryIndex(
        geography,
        [
            actor("rouen", communes=[ROUEN]),
            actor("havre", communes=[LE_HAVRE]),
            actor("sensible", profile="consultant_sensible", departements=["76"]),
        ],
    )
    store, sender = MemoryStore(N), MemorySender()
    return Processor(index, codec, store, sender, max_consecutive_dead_letters=5), store, sender


def feed(codec, sender: MemorySender, actor_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor_id)]]


def test_flow_with_dead_letters(world, codec) -> None:  # type: ignore[no-untyped-def]
    proc, store, sender = world
    a, b = new_num_unique(), new_num_unique()
    bad_commune = demande_event(new_num_unique(), ["99999"])
    records = [
        rec(codec, "DemandeEvent", demande_event(a, [ROUEN], handicap=True), 0),
        InputRecord(topics.DEMANDES, 0, 1, b"k", b"\x00garbage"),
        rec(codec, "DemandeEvent", bad_commune, 2),
        rec(codec, "DemandeEvent", demande_event(b, [LE_HAVRE, ROUEN]), 3),
        rec(codec, "DemandeEvent", demande_event(a, [LE_HAVRE], operation="MOD"), 4),
    ]
    stats = asyncio.run(proc.process(records))
    assert stats.dead_letters == 2
    rouen = feed(codec, sender, "rouen")
    assert [(r["numUnique"], r["kind"]) for r in rouen] == [
        (a, "DEMANDE"),
        (b, "DEMANDE"),
        (a, "RETRAIT"),
    ]
    assert rouen[2]["demande"] is None and rouen[2]["reason"] == "hors_territoire"
    assert [r["demandeVersion"] for r in rouen] == [1, 1, 2]
    # the sensitive field reaches only consultant_sensible
    assert rouen[0]["demande"]["demandeLogement"]["listeHandicap"] is None
    assert feed(codec, sender, "sensible")[0]["demande"]["demandeLogement"]["listeHandicap"]
    dlq = [codec.decode_as(v, "DeadLetter") for _, v in sender.sent[topics.DLQ]]
    assert [d["reason"] for d in dlq] == ["undecodable", "unknown_commune"]
    assert dlq[0]["payload"] == b"\x00garbage" and dlq[0]["sourceOffset"] == 1
    assert len(store.data) == 2


def _with_resumes(proc: Processor, sender: MemorySender, records: list[InputRecord]) -> None:
    """Process ``records``, then the DispatchResume records the processor writes (an
    actor change's copies and withdrawals on a partition whose index is complete), read
    back from their partitions until none is left."""
    parts = {proc.partition_key(p): p for p in range(N)}
    while records:
        seen = len(sender.sent.get(topics.DEMANDES, []))
        asyncio.run(proc.process(records))
        records = [InputRecord(topics.DEMANDES, parts[k], 1000, k, v)
                   for k, v in sender.sent[topics.DEMANDES][seen:] if k is not None]  # fmt: skip


def test_actor_change_copies_and_withdraws_in_stream(world, codec) -> None:  # type: ignore[no-untyped-def]
    proc, _, sender = world
    nums = [new_num_unique() for _ in range(12)]
    asyncio.run(
        proc.process(
            [rec(codec, "DemandeEvent", demande_event(n, [ROUEN]), i) for i, n in enumerate(nums)]
        )
    )
    changed = actor("havre", version=2, communes=[ROUEN]).to_avro()
    control = {
        "controlId": str(uuid.uuid4()),
        "issuedAt": int(time.time() * 1000),
        "actor": changed,
    }
    value = codec.encode("DispatchControl", control)
    _with_resumes(proc, sender, [InputRecord(topics.DEMANDES, p, 100, b"havre", value)
                                 for p in range(N)])  # fmt: skip
    copies = feed(codec, sender, "havre")
    assert sorted(r["numUnique"] for r in copies) == sorted(nums)
    assert {r["kind"] for r in copies} == {"COPIE"} and {r["operation"] for r in copies} == {"COP"}
    # a second identical control changes nothing
    _with_resumes(proc, sender, [InputRecord(topics.DEMANDES, p, 101, b"havre", value)
                                 for p in range(N)])  # fmt: skip
    assert len(feed(codec, sender, "havre")) == len(nums)
    removed = actor("havre", version=3, communes=[LE_HAVRE]).to_avro()
    value = codec.encode("DispatchControl", {**control, "actor": removed})
    _with_resumes(proc, sender, [InputRecord(topics.DEMANDES, p, 102, b"havre", value)
                                 for p in range(N)])  # fmt: skip
    withdrawals = feed(codec, sender, "havre")[len(nums) :]
    assert sorted(r["numUnique"] for r in withdrawals) == sorted(nums)
    assert {(r["kind"], r["reason"]) for r in withdrawals} == {("RETRAIT", "filtres_modifies")}


def test_too_many_consecutive_dead_letters_stop(world) -> None:  # type: ignore[no-untyped-def]
    proc, _, sender = world
    junk = [InputRecord(topics.DEMANDES, 0, i, None, b"junk") for i in range(10)]
    with pytest.raises(TooManyDeadLetters):
        asyncio.run(proc.process(junk))
    assert len(sender.sent[topics.DLQ]) == 5  # the limit, all sent before stopping


def test_encode_once_fan_out(world, codec) -> None:  # type: ignore[no-untyped-def]
    proc, _, sender = world
    proc.index.upsert(actor("rouen2", communes=[ROUEN]))
    asyncio.run(
        proc.process([rec(codec, "DemandeEvent", demande_event(new_num_unique(), [ROUEN]), 0)])
    )
    a = sender.sent[topics.feed_topic("rouen")][0][1]
    b = sender.sent[topics.feed_topic("rouen2")][0][1]
    assert a is b  # same profile, same bytes object: encoded once


def test_the_store_is_flushed_once_per_batch_after_its_writes(world, codec) -> None:  # type: ignore[no-untyped-def]
    proc, store, _ = world

    class Flushes(type(store)):  # type: ignore[misc]
        async def flush(self) -> None:
            await super().flush()
            self.seen.append(len(self.data))

    store.__class__, store.seen = Flushes, []
    for i in range(2):
        asyncio.run(proc.process([rec(codec, "DemandeEvent",
                                      demande_event(new_num_unique(), [ROUEN]), i)]))
    assert store.flushes == 2 and store.seen == [1, 2]  # after the batch's puts


def test_a_batch_decided_again_in_the_same_process_does_not_write_its_letters_twice(
        world, codec) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """A rebalance before the commit hands a worker the records of a batch it already
    settled: its dead letters, acknowledged then, are durable on hub.dlq and not written
    again (the valid event, stored, is recognised by its state as before). Letters of
    records with the same offset but other bytes are new letters."""
    proc, _store, sender = world
    good = rec(codec, "DemandeEvent", demande_event(new_num_unique(), [ROUEN]), 0)
    records = [InputRecord(topics.DEMANDES, 0, 1, b"k", b"\x00garbage"), good,
               InputRecord(topics.DEMANDES, 0, 2, None, None)]  # fmt: skip
    asyncio.run(proc.process(records))
    assert len(sender.sent[topics.DLQ]) == 2
    stats = asyncio.run(proc.process(records))  # the same records, decided again
    assert stats.dead_letters == 2  # still counted (the cap counts them)
    assert len(sender.sent[topics.DLQ]) == 2
    assert len(sender.sent[topics.feed_topic("rouen")]) == 1
    other = InputRecord(topics.DEMANDES, 0, 1, b"k", b"\x00other garbage")
    asyncio.run(proc.process([other]))
    assert len(sender.sent[topics.DLQ]) == 3
