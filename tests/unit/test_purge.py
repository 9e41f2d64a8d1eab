"""The purge control record through the in-memory processor (the worker's code)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from dispatch.processor import InputRecord, Processor
from dispatch.purge import purgeable
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from hub.services.purge import DAY_MS
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

ROUEN = "76540"
NOW = int(time.time() * 1000)
RAD = {"dateRadiation": "2024-01-02", "motifRadiation": "RADATT"}


_offsets = itertools.count()


def _run(proc: Processor, codec: Any, *items: tuple[str, dict[str, Any]]) -> None:
    recs = [InputRecord(topics.DEMANDES, 0, next(_offsets), str(body["numUnique"]).encode(),
                        codec.encode(name, body)) for name, body in items]  # fmt: skip
    asyncio.run(proc.process(recs))


def _purge(num: str, cutoff: int) -> tuple[str, dict[str, Any]]:
    return ("DispatchPurge", {"purgeId": "p", "issuedAt": NOW, "numUnique": num,
                              "radiatedBefore": cutoff})  # fmt: skip


def test_only_old_radiations_are_purged(geography: Any, codec: Any) -> None:
    index = TerritoryIndex(geography, [Actor(id="rouen", name="r", kind="bailleur",
                                             filters=ActorFilters(communes=[ROUEN]))])  # fmt: skip
    store, sender = MemoryStore(1), MemorySender()
    proc = Processor(index, codec, store, sender)
    old, recent, active = new_num_unique(), new_num_unique(), new_num_unique()
    cutoff = NOW - 365 * DAY_MS
    ev = lambda n, op, days, **kw: ("DemandeEvent", demande_event(  # noqa: E731
        n, [ROUEN], operation=op, occurred_at=NOW - days * DAY_MS, **kw))  # fmt: skip
    _run(proc, codec, ev(old, "CRE", 500), ev(old, "RAD", 400, radiation=RAD),
         ev(recent, "CRE", 500), ev(recent, "RAD", 10, radiation=RAD), ev(active, "CRE", 500))
    assert {old.encode(), recent.encode(), active.encode()} <= set(store.data)
    sent = len(sender.sent[topics.feed_topic("rouen")])
    _run(proc, codec, _purge(old, cutoff), _purge(recent, cutoff), _purge(active, cutoff),
         _purge(new_num_unique(), cutoff))  # fmt: skip
    assert old.encode() not in store.data  # tombstoned
    assert {recent.encode(), active.encode()} <= set(store.data)
    assert len(sender.sent[topics.feed_topic("rouen")]) == sent  # a purge tells nobody
    assert not sender.sent.get(topics.DLQ)
    # the state is forgotten: the same numéro starts again at version 1
    _run(proc, codec, ev(old, "CRE", 1))
    last = codec.decode_as(sender.sent[topics.feed_topic("rouen")][-1][1], "FeedRecord")
    assert (last["numUnique"], last["demandeVersion"]) == (old, 1)


def test_purgeable() -> None:
    from hub.domain.state import DemandeState

    s = DemandeState("n", 2, False, frozenset(), "e", "RAD", occurred_at=100)
    assert purgeable(s, 101) and not purgeable(s, 100) and not purgeable(None, 10**15)
    assert not purgeable(DemandeState("n", 2, True, frozenset(), "e", "MOD", 1), 10**15)
