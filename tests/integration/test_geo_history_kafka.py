"""Geography over time on the real broker (issue 17 point 6): a demand wishing a commune
code that left the INSEE list reaches the actor of its successor through `hub worker`,
and is then radiated — also when the radiation names a code unknown today.

Real codes: 05141 Saint-Eusèbe-en-Champsaur, absorbed by the commune nouvelle Aubessagne
(05039) on 2018-01-01; 14513 Pont-Farcy (Calvados) → 50649 (Manche, 2018) → 50592
Tessy-Bocage (by 2021), a chain that changes département.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from connectors.ingress.publishing import prepare_event, publish_events
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

SAINT_EUSEBE, AUBESSAGNE, PONT_FARCY = "05141", "05039", "14513"
RADIATED = {"dateRadiation": "2026-11-20", "motifRadiation": "RADABA"}


def register(service: Any, aid: str, **filters: Any) -> None:
    service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                filters=ActorFilters(**filters)))  # fmt: skip


def test_former_code_reaches_the_successor_then_is_radiated(  # type: ignore[no-untyped-def]
    settings, worker, actor_service
) -> None:
    aubessagne = f"aubessagne-{uuid.uuid4().hex[:8]}"
    manche = f"manche-{uuid.uuid4().hex[:8]}"
    register(actor_service, aubessagne, communes=[AUBESSAGNE])
    register(actor_service, manche, departements=["50"])
    merged, chained = new_num_unique("005"), new_num_unique("014")
    events = [
        demande_event(merged, [SAINT_EUSEBE]),
        demande_event(chained, [PONT_FARCY]),
        demande_event(merged, [SAINT_EUSEBE], operation="RAD", radiation=RADIATED),
        # its commune vanished with no successor known: still radiated, to its recipients
        demande_event(chained, ["99999"], operation="RAD", radiation=RADIATED),
    ]
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))

    def kinds(records: list[dict[str, Any]], num: str) -> list[str]:
        return [r["kind"] for r in records if r["numUnique"] == num]

    a = collect_feed(settings, aubessagne, worker=worker,
                     until=lambda rs: len(kinds(rs, merged)) >= 2)  # fmt: skip
    m = collect_feed(settings, manche, worker=worker,
                     until=lambda rs: len(kinds(rs, chained)) >= 2)  # fmt: skip
    assert kinds(a, merged) == ["DEMANDE", "RADIATION"]
    assert kinds(m, chained) == ["DEMANDE", "RADIATION"]
    assert kinds(a, chained) == [] and kinds(m, merged) == []
    first = next(r for r in a if r["numUnique"] == merged)
    wished = first["demande"]["demandeLogement"]["logementRecherche"]["listeLocalisationSouhaite"]
    assert [w["commune"] for w in wished] == [SAINT_EUSEBE]  # the demand travels as sent
