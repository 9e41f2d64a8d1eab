"""Issue 20 point 4: the score reaches the actors *of that EPCI*. A feed record carries the
scores (``cotations``) of the EPCIs the receiving actor covers — the EPCI in its filters,
one of its communes, or its département — and no other (docs/cotation.md, "Who receives
it"). Geography from the shipped reference: Darnétal and Rouen are communes of the
Métropole Rouen Normandie (SIREN 200023414), Le Havre is not (Le Havre Seine Métropole).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.deadlines import Deadlines
from dispatch.processor import Processor
from hub.core import topics
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import LE_HAVRE, ROUEN, _actor, _ev_rec

DARNETAL, METROPOLE = "76212", "200023414"


@pytest.fixture
def scoring() -> Iterator[Scoring]:
    s = Scoring()
    cotation.install(s)
    yield s
    cotation.install(None)


def _feed(codec: Any, sender: MemorySender, actor: str) -> list[dict[str, Any]]:
    return [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor)]]


def test_each_actor_gets_the_scores_of_the_epcis_it_covers(codec: Any, geography: Any,
                                                          scoring: Scoring) -> None:  # fmt: skip
    assert geography.commune(DARNETAL).epci == METROPOLE == geography.commune(ROUEN).epci
    assert geography.commune(LE_HAVRE).epci != METROPOLE
    actors = [_actor("havre", communes=[LE_HAVRE]), _actor("rouen", communes=[ROUEN]),
              _actor("dep", departements=["76"]), _actor("metropole", epcis=[METROPOLE]),
              _actor("havre-t3", communes=[LE_HAVRE], typologies=["T3"])]  # fmt: skip
    sender = MemorySender()
    proc = Processor(TerritoryIndex(geography, actors), codec, MemoryStore(), sender,
                     deadlines=Deadlines(scoring=scoring))  # fmt: skip
    # wishes Darnétal (Métropole, a grid) and Le Havre (another EPCI, no grid shipped)
    ev = demande_event(new_num_unique(), [DARNETAL, LE_HAVRE, ROUEN], typologies=["T3"])
    asyncio.run(proc.process([_ev_rec(codec, ev)]))
    got = {a.id: _feed(codec, sender, a.id) for a in actors}
    assert all(len(records) == 1 for records in got.values()), got  # every actor receives it
    for aid in ("rouen", "dep", "metropole"):
        assert [c["epci"] for c in got[aid][0]["cotations"]] == [METROPOLE], aid
    for aid in ("havre", "havre-t3"):  # Le Havre's actors: the demand, not the Métropole's score
        assert got[aid][0]["cotations"] == [], aid
        assert got[aid][0]["demande"] is not None
    # the records differ only by the scores: same event, same snapshot
    assert got["havre"][0]["demande"] == got["dep"][0]["demande"]
    assert got["havre"][0]["eventId"] == got["dep"][0]["eventId"]
