"""A gestion partagée event read before its demand is parked, never lost (dispatch.parking).

In-memory store and sender, no broker. The demand events and the GP events are made from
the specification (tests.support.spec_events, tests.support.spec_evenements: the Avro
schemas, the catalogue published in docs/api.md), written by fastavro. What each actor
must receive is stated by the contract (docs/api.md, docs/reliability.md): the demand
first, then its events in their order; an event nobody claims goes to hub.dlq with its
reason, replayable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from dispatch.parked import EXPIRY, PREFIX
from dispatch.parking import Parking
from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.support.spec_evenements import spec_bytes, spec_evenement
from tests.support.spec_events import spec_event, wished_communes

HERE = wished_communes()[0]
ACTOR = "holder"
NOW_MS = 1_750_000_000_000
DAY_MS = 86_400_000


class ChangelogStore(MemoryStore):
    """A memory store that also keeps, in order, every write its flushes stored: the
    changelog a restarted worker rebuilds its state from."""

    def __init__(self, partitions: int = 4) -> None:
        super().__init__(partitions)
        self.log: list[tuple[bytes, int, bytes | None]] = []

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        super().put(key, partition, value)
        self.log.append((key, partition, value))

    def rebuilt(self) -> MemoryStore:
        fresh = MemoryStore(self.partitions)
        for key, partition, value in self.log:
            fresh.put(key, partition, value)
        return fresh


class World:
    """One worker's processor over a store, with the records it was given."""

    def __init__(
        self,
        geography: Any,
        codec: Any,
        store: MemoryStore | None = None,
        sender: MemorySender | None = None,
        **parking: int,
    ) -> None:
        self.codec = codec
        self.store = store if store is not None else ChangelogStore(4)
        self.sender = sender if sender is not None else MemorySender()
        self.now_ms = NOW_MS
        index = TerritoryIndex(
            geography,
            [Actor(id=ACTOR, name="h", kind="bailleur", filters=ActorFilters(communes=[HERE]))],
        )
        self.proc = Processor(
            index,
            codec,
            self.store,
            self.sender,
            clock=lambda: self.now_ms / 1000,
            parking=Parking(**parking),
        )
        self.offsets: dict[str, int] = {topics.DEMANDES: 0, topics.EVENEMENTS: 0}

    def _rec(self, topic: str, num: str, value: bytes) -> InputRecord:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        partition = 0  # every demand of these tests in one partition: they share a bound
        return InputRecord(topic, partition, offset, num.encode(), value)

    def demande(self, num: str, operation: str = "CRE", **extra: Any) -> InputRecord:
        event = spec_event(num, [HERE], operation=operation)
        event["demande"]["demandeLogement"].update(extra)
        return self._rec(topics.DEMANDES, num, self.codec.encode("DemandeEvent", event))

    def gp(self, num: str, code: str = "VISPROP", **fields: str) -> tuple[InputRecord, str]:
        ev = spec_evenement(num, code, fields=fields)
        return self._rec(topics.EVENEMENTS, num, spec_bytes(ev)), ev["eventId"]

    def tick(self, now_ms: int) -> InputRecord:
        from dispatch.ticks import tick_value

        return self._rec(topics.DEMANDES, "clock", tick_value(self.codec, 0, now_ms))

    def run(self, *batches: Iterable[InputRecord]) -> list[Any]:
        async def go() -> list[Any]:
            return [await self.proc.process(list(b)) for b in batches]

        return asyncio.run(go())

    def feed(self, actor: str = ACTOR) -> list[tuple[str, str, str]]:
        """(numUnique, kind, eventId of the GP event or the demand's operation)."""
        out = []
        for _, value in self.sender.sent[topics.feed_topic(actor)]:
            r = self.codec.decode_as(value, "FeedRecord")
            tag = r["evenement"]["eventId"] if r["kind"] == "EVENEMENT" else r["operation"]
            out.append((r["numUnique"], r["kind"], tag))
        return out

    def letters(self) -> list[dict[str, Any]]:
        return [self.codec.decode_as(v, "DeadLetter") for _, v in self.sender.sent[topics.DLQ]]

    def parked_keys(self) -> list[bytes]:
        return sorted(k for (_, k) in self.store.own if k.startswith((PREFIX, EXPIRY)))


def test_an_event_read_before_its_demand_reaches_the_holder_after_it(
    geography: Any, codec: Any
) -> None:
    w = World(geography, codec)
    num = new_num_unique()
    first, first_id = w.gp(num, "DESIGCAL")
    second, second_id = w.gp(num, "VISPROP")
    stats = w.run([first], [second])
    assert w.feed() == [] and not w.letters()  # parked: nobody yet, nothing lost
    assert [s.parked for s in stats] == [{"parked": 1}, {"parked": 1}]
    assert stats[-1].parked_now == {0: 2}
    later, later_id = w.gp(num, "BAILSIGNE")
    (stats,) = w.run([w.demande(num), w.demande(num, "MOD"), later])
    assert w.feed() == [
        (num, "DEMANDE", "CRE"),
        (num, "EVENEMENT", first_id),
        (num, "EVENEMENT", second_id),
        (num, "DEMANDE", "MOD"),
        (num, "EVENEMENT", later_id),
    ]
    assert stats.parked == {"delivered": 2} and stats.parked_now == {0: 0}
    assert w.parked_keys() == [] and not w.letters()


def test_parked_and_created_in_one_batch_or_in_batches_not_stored_yet(
    geography: Any, codec: Any
) -> None:
    """The event parked by a batch still unsettled (pipelining) or earlier in the same
    batch is found by the demand's creation."""
    w = World(geography, codec)
    a, b = new_num_unique(), new_num_unique()
    gp_a, id_a = w.gp(a)
    gp_b, id_b = w.gp(b)

    async def pipelined() -> None:
        first = await w.proc.submit([gp_a])  # parked, not stored yet
        second = await w.proc.submit([w.demande(a), gp_b, w.demande(b)])
        await w.proc.settle(first)
        await w.proc.settle(second)

    asyncio.run(pipelined())
    assert w.feed() == [
        (a, "DEMANDE", "CRE"),
        (a, "EVENEMENT", id_a),
        (b, "DEMANDE", "CRE"),
        (b, "EVENEMENT", id_b),
    ]
    assert w.parked_keys() == []


def test_an_event_nobody_claims_goes_to_the_dlq_when_it_expires(geography: Any, codec: Any) -> None:
    w = World(geography, codec, ttl_ms=7 * DAY_MS)
    num = new_num_unique()
    record, event_id = w.gp(num)
    w.run([record])
    w.run([w.tick(NOW_MS + 7 * DAY_MS - 1)])  # not yet
    assert not w.letters() and w.parked_keys()
    (stats,) = w.run([w.tick(NOW_MS + 7 * DAY_MS)])
    (letter,) = w.letters()
    assert letter["reason"] == "unknown_demande"
    assert (letter["sourceTopic"], letter["sourcePartition"], letter["sourceOffset"]) == (
        topics.EVENEMENTS,
        record.partition,
        record.offset,
    )
    assert letter["key"] == num.encode() and letter["payload"] == record.value  # replayable
    assert codec.decode_as(letter["payload"], "EvenementGP")["eventId"] == event_id
    assert stats.parked == {"unknown_demande": 1} and stats.parked_now == {0: 0}
    assert stats.dead_letter_reasons == {"unknown_demande": 1}
    assert w.parked_keys() == []
    w.run([w.demande(num)])  # too late: only the demand (the event is on hub.dlq)
    assert w.feed() == [(num, "DEMANDE", "CRE")]


def test_beyond_the_bound_an_event_goes_to_the_dlq_parking_full(geography: Any, codec: Any) -> None:
    w = World(geography, codec, max_parked=2)
    nums = [new_num_unique() for _ in range(3)]
    gps = [w.gp(n) for n in nums]
    stats = w.run([gps[0][0], gps[1][0]], [gps[2][0]])
    (letter,) = w.letters()
    assert letter["reason"] == "parking_full" and letter["sourceOffset"] == gps[2][0].offset
    assert letter["payload"] == gps[2][0].value
    assert stats[1].parked == {"parking_full": 1} and stats[1].parked_now == {0: 2}
    w.run([w.demande(n) for n in nums])
    assert [r for r in w.feed() if r[1] == "EVENEMENT"] == [
        (nums[0], "EVENEMENT", gps[0][1]),
        (nums[1], "EVENEMENT", gps[1][1]),
    ]
    # released: room again
    again, _ = w.gp(new_num_unique())
    w.run([again])
    assert len(w.letters()) == 1


def test_no_parking_at_all_refuses_at_once(geography: Any, codec: Any) -> None:
    w = World(geography, codec, max_parked=0)
    record, _ = w.gp(new_num_unique())
    w.run([record])
    assert [x["reason"] for x in w.letters()] == ["parking_full"]


def test_parked_events_survive_a_restart(geography: Any, codec: Any) -> None:
    """A new worker whose state is rebuilt from what the first one stored (its changelog)
    releases the events the first one parked; the record read again is not parked twice."""
    first = World(geography, codec)
    num = new_num_unique()
    record, event_id = first.gp(num)
    first.run([record])
    assert isinstance(first.store, ChangelogStore)
    restarted = World(geography, codec, store=first.store.rebuilt())
    restarted.run([record])  # its offset was not committed: read again
    restarted.run([restarted.demande(num)])
    assert restarted.feed() == [(num, "DEMANDE", "CRE"), (num, "EVENEMENT", event_id)]
    assert restarted.parked_keys() == []


def test_a_crash_before_the_batch_is_stored_parks_it_again(geography: Any, codec: Any) -> None:
    w = World(geography, codec)
    num = new_num_unique()
    record, event_id = w.gp(num)

    async def crash() -> None:
        await w.proc.submit([record])  # sent, never settled: the process dies

    asyncio.run(crash())
    assert w.parked_keys() == []
    again = World(geography, codec, store=w.store, sender=MemorySender())
    again.run([record], [again.demande(num)])
    assert again.feed() == [(num, "DEMANDE", "CRE"), (num, "EVENEMENT", event_id)]


def test_radiated_demand_still_gets_its_events_deleted_one_refuses_them(
    geography: Any, codec: Any
) -> None:
    """Radiated (inactive): its holders are told, as before. Deleted (SUP): nobody holds it
    any more; the event goes to hub.dlq (deleted_demande) instead of nowhere."""
    w = World(geography, codec)
    radiated, deleted = new_num_unique(), new_num_unique()
    radiation = {"dateRadiation": "2025-06-01", "motifRadiation": "RADATT"}
    w.run(
        [
            w.demande(radiated),
            w.demande(radiated, "RAD", radiation=radiation),
            w.demande(deleted),
            w.demande(deleted, "SUP"),
        ]
    )
    late, late_id = w.gp(radiated, "REFUSDEM")
    gone, _ = w.gp(deleted)
    w.run([late, gone])
    assert (radiated, "EVENEMENT", late_id) in w.feed()
    assert not [r for r in w.feed() if r[0] == deleted and r[1] == "EVENEMENT"]
    assert [(x["reason"], x["sourceOffset"]) for x in w.letters()] == [
        ("deleted_demande", gone.offset)
    ]
    assert w.parked_keys() == []


def test_an_irrecevabilite_parked_radiates_the_demand_once_dispatched(
    geography: Any, codec: Any
) -> None:
    w = World(geography, codec)
    num = new_num_unique()
    decision, _ = w.gp(num, "DECISCAL", DECISION="IRREC")
    w.run([decision], [w.demande(num)])
    (radiation,) = [codec.decode_as(v, "DemandeEvent") for _, v in w.sender.sent[topics.DEMANDES]]
    assert radiation["operation"] == "RAD" and radiation["numUnique"] == num


@pytest.mark.parametrize("max_parked", [1, 5])
def test_an_expiry_after_a_crash_left_a_released_event_delivers_it_again(
    geography: Any, codec: Any, max_parked: int
) -> None:
    """The release's removals are stored after the demand's state: a crash in between
    leaves the event parked beside a known demand. Its expiry delivers it again (the same
    eventId: the consumer drops it) rather than calling the demand unknown."""
    w = World(geography, codec, max_parked=max_parked)
    num = new_num_unique()
    record, event_id = w.gp(num)
    w.run([record])
    leftovers = {k: v for k, v in w.store.own.items() if k[1].startswith((PREFIX, EXPIRY))}
    w.run([w.demande(num)])
    w.store.own.update(leftovers)  # as if the removals had not been stored
    w.run([w.tick(NOW_MS + 8 * DAY_MS)])
    assert w.feed() == [
        (num, "DEMANDE", "CRE"),
        (num, "EVENEMENT", event_id),
        (num, "EVENEMENT", event_id),
    ]
    assert not w.letters() and w.parked_keys() == []


def test_the_parking_is_seen_in_the_metrics(geography: Any, codec: Any) -> None:
    from dispatch.recording import record_batch
    from monitoring.metrics import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("passerelle_evenements_parking_total", outcome="parked")
    w = World(geography, codec)
    record, _ = w.gp(new_num_unique())
    (stats,) = w.run([record])
    record_batch(stats)
    assert value("passerelle_evenements_parking_total", outcome="parked") == before + 1
    assert value("passerelle_parked_evenements", partition="0") == 1
    assert value("passerelle_events_in_total", topic=topics.EVENEMENTS, operation="EVENEMENT") > 0
