"""The domain's "empty motive = reactivation" whatever the entrance (found while fixing
audit J F2: the document connector turned `<motifRadiation/>` into a MOD, but a JSON line
or a direct producer's RAD with an empty motive still radiated, and the SNE poller saw a
reactivated demand as radiated)."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.sne.poll_compare import compare, digest
from dispatch.processor import Processor
from hub.domain.decisions import as_received, is_reactivation
from hub.domain.matching import TerritoryIndex
from hub.domain.statistics_facts import fait_of
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_processor import ROUEN, N, actor, feed, rec

EMPTY = {"dateRadiation": "2026-01-10", "motifRadiation": ""}
RADIATED = {"dateRadiation": "2026-01-10", "motifRadiation": "RADABA"}


def test_the_rule() -> None:
    num = new_num_unique()
    assert is_reactivation(demande_event(num, [ROUEN], operation="RAD", radiation=EMPTY))
    assert not is_reactivation(demande_event(num, [ROUEN], operation="RAD", radiation=RADIATED))
    assert not is_reactivation(demande_event(num, [ROUEN], operation="MOD", radiation=EMPTY))
    same = demande_event(num, [ROUEN], operation="RAD", radiation=RADIATED)
    assert as_received(same) is same


def test_the_worker_reactivates_a_radiated_demand(geography: Any, codec: Any) -> None:
    index = TerritoryIndex(geography, [actor("rouen", communes=[ROUEN])])
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(index, codec, store, sender, max_consecutive_dead_letters=5)
    num = new_num_unique()
    events = [demande_event(num, [ROUEN]),
              demande_event(num, [ROUEN], operation="RAD", radiation=RADIATED),
              demande_event(num, [ROUEN], operation="RAD", radiation=EMPTY)]  # fmt: skip
    asyncio.run(proc.process([rec(codec, "DemandeEvent", e, i) for i, e in enumerate(events)]))
    got = [(r["kind"], r["operation"]) for r in feed(codec, sender, "rouen")]
    assert got == [("DEMANDE", "CRE"), ("RADIATION", "RAD"), ("DEMANDE", "MOD")]


def test_the_statistics_count_it_active(geography: Any) -> None:
    event = demande_event(new_num_unique(), [ROUEN], operation="RAD", radiation=EMPTY)
    assert fait_of(event, geography).active
    event = demande_event(new_num_unique(), [ROUEN], operation="RAD", radiation=RADIATED)
    assert not fait_of(event, geography).active


def test_the_poller_publishes_a_modification_not_a_radiation() -> None:
    num = new_num_unique()
    radiated = demande_event(num, [ROUEN], operation="RAD", radiation=RADIATED)
    seen = {"event": radiated, "digest": digest(radiated["demande"])}
    now = demande_event(num, [ROUEN], operation="MOD", radiation=EMPTY)
    out = compare(now, num, seen)
    assert out is not None and out[0]["operation"] == "MOD"
