"""A ``SUP`` leaves a deletion marker (hub.domain.decisions.deletion_marker), in memory
through the worker's processor: the deleted demand's events published again (same
``eventId``) are duplicates — no second DEMANDE, no active state, no renewal notice
(audit D, F4) — while a new event (new ``eventId``) still creates the numéro again; every
reader of the state takes the marker for a demand that is not there; ``hub purge`` removes
it with the old radiations; it stays small."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from dispatch import territory
from dispatch.deadlines import Deadlines
from dispatch.evenements import radiation_for
from dispatch.processor import Processor
from dispatch.purge import purgeable
from hub.core import topics
from hub.domain.decisions import decide, reevaluate
from hub.domain.state import RECENT_EVENT_IDS, DemandeState
from hub.services.purge import DAY_MS
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import ROUEN, N, _avis, _ev_rec, _event, _ms, _processor, _ticks


def _feed(codec: Any, sender: MemorySender, actor: str, num: str) -> list[tuple[str, ...]]:
    recs = [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor)]]
    return [(r["kind"], r["operation"], r["eventId"], str(r["demandeVersion"]))
            for r in recs if r["numUnique"] == num and r["kind"] != "AVIS"]  # fmt: skip


def _state(proc: Processor, store: MemoryStore, num: str) -> DemandeState | None:
    raw = store.get(num.encode())
    return None if raw is None else proc._snapshots.decode_state(raw)


def _rig(codec: Any, geography: Any) -> tuple[MemoryStore, MemorySender, Processor, Any]:
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)

    def run(*evs: dict[str, Any]) -> None:
        asyncio.run(proc.process([_ev_rec(codec, e) for e in evs]))

    return store, sender, proc, run


def test_duplicate_create_after_delete_is_a_duplicate(codec: Any, geography: Any) -> None:
    """The audit's scenario (it failed before the marker): CRE, SUP, the same CRE."""
    store, sender, proc, run = _rig(codec, geography)
    num = new_num_unique()
    cre = _event(num, ROUEN, created="2025-01-10")
    mod = _event(num, ROUEN, "MOD", created="2025-01-10")
    sup = _event(num, ROUEN, "SUP")
    run(cre)
    run(mod, sup)
    run(cre)  # the same event (same eventId) published again
    run(mod, sup, cre)  # and the others, in one batch
    feed = _feed(codec, sender, "rouen", num)
    assert [k[:2] for k in feed] == [("DEMANDE", "CRE"), ("DEMANDE", "MOD"), ("RETRAIT", "SUP")]
    assert feed[2][3] == "2"  # the withdrawal carries the last version, as before the marker
    state = _state(proc, store, num)
    assert state is not None and state.deleted and not state.active
    assert state.demande is None and state.recipients == frozenset() == state.former
    assert state.recent_event_ids == (cre["eventId"], mod["eventId"], sup["eventId"])
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 1)))))
    assert [r for r in _avis(codec, sender, "rouen") if r["numUnique"] == num] == []


def test_a_new_event_after_delete_creates_the_demand_again(codec: Any, geography: Any) -> None:
    """Today's behaviour for a new eventId: created, dispatched, its clock running; the
    version goes on from the deleted demand's (consumers never see a version twice)."""
    store, sender, proc, run = _rig(codec, geography)
    num = new_num_unique()
    run(_event(num, ROUEN, created="2025-01-10"), _event(num, ROUEN, "SUP"))
    again = _event(num, ROUEN, created="2025-01-10")
    run(again)
    assert _feed(codec, sender, "rouen", num)[-1] == ("DEMANDE", "CRE", again["eventId"], "2")
    state = _state(proc, store, num)
    assert state is not None and state.active and not state.deleted and state.version == 2
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 1)))))
    assert [r["reason"] for r in _avis(codec, sender, "rouen") if r["numUnique"] == num] == [
        "renouvellement_m-2",
        "renouvellement_m-1",
    ]


def test_delete_of_an_unknown_demand_leaves_a_marker(codec: Any, geography: Any) -> None:
    store, sender, proc, run = _rig(codec, geography)
    num = new_num_unique()
    sup = _event(num, ROUEN, "SUP")
    run(sup)
    assert _feed(codec, sender, "rouen", num) == []
    state = _state(proc, store, num)
    assert state is not None and state.deleted and state.version == 0
    assert state.recent_event_ids == (sup["eventId"],)
    again = _event(num, ROUEN)
    run(sup, again)  # the SUP again: skipped; a creation: version 1, as before the marker
    assert _feed(codec, sender, "rouen", num) == [("DEMANDE", "CRE", again["eventId"], "1")]


def test_every_reader_of_the_state_takes_a_marker_for_an_absent_demand(
    codec: Any, geography: Any
) -> None:
    """Territorial index, clock, re-dispatch (reevaluate), gestion partagée (recipients,
    radiation): nothing; its stored due and index entries are removed with the SUP."""
    store, _sender, proc, run = _rig(codec, geography)
    num = new_num_unique()
    run(_event(num, ROUEN, created="2025-01-10"))
    assert any(num.encode() in k for _, k in store.own)  # its index and due entries
    run(_event(num, ROUEN, "SUP"))
    assert not any(num.encode() in k for _, k in store.own)
    marker = _state(proc, store, num)
    assert marker is not None
    assert territory.entries(marker, proc.index) == {}
    assert Deadlines().entries(marker, geography) == {}
    assert Deadlines().thresholds(marker, geography) == []
    for actor in proc.index.actors():
        assert reevaluate(marker, actor.id, proc.index) is None
    decision = {"eventId": "g1", "numUnique": num, "operation": "AJO",
                "codeTypeEvenement": "DECISCAL", "dateSurvenance": "2026-01-01",
                "auteur": "a", "occurredAt": 0,
                "caracteristiques": {"DECISION": "IRREC", "MOTIF": "IRRRES"}}  # fmt: skip
    assert radiation_for(decision, marker) is None and marker.recipients == frozenset()


def test_the_purge_removes_a_marker_after_the_retention(geography: Any) -> None:
    from hub.domain.matching import TerritoryIndex

    num, now = new_num_unique(), int(time.time() * 1000)
    index = TerritoryIndex(geography, [])
    cre = _event(num, ROUEN, occurred_at=now - 500 * DAY_MS)
    state = decide(cre, None, index, partition=0, offset=1).state
    sup = _event(num, ROUEN, "SUP", occurred_at=now - 400 * DAY_MS)
    marker = decide(sup, state, index, partition=0, offset=2).state
    assert marker is not None and marker.deleted
    assert purgeable(marker, now - 365 * DAY_MS)
    assert not purgeable(marker, now - 401 * DAY_MS)  # deleted since less than the cut-off


def test_a_marker_is_small(codec: Any, geography: Any) -> None:
    """At most the 16 recent ids: ~0.7 kB, whatever the snapshot the demand had."""
    from hub.domain.matching import TerritoryIndex

    index = TerritoryIndex(geography, [])
    num = new_num_unique()
    state = None
    for i in range(RECENT_EVENT_IDS + 3):
        state = decide(_event(num, ROUEN, "MOD"), state, index, partition=0, offset=i).state
    full = codec.encode("DemandeState", state.to_avro()) if state else b""
    d = decide(_event(num, ROUEN, "SUP"), state, index, partition=0, offset=99)
    assert d.delete and d.deliveries == [] and d.state is not None  # (no actor here)
    marker = codec.encode("DemandeState", d.state.to_avro())
    assert len(marker) < 800 < len(full) and len(d.state.recent_event_ids) == RECENT_EVENT_IDS
