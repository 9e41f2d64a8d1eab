"""Dispatch decisions without a broker: recipients, withdrawals, radiation, deletion,
copies and withdrawals on filter change, replays, validation."""

from __future__ import annotations

import pytest

from hub.core.errors import InputError, InvalidNumUniqueError, UnknownCommuneError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import (
    COPIE,
    DEMANDE,
    FILTERS_CHANGED,
    FORMER_RECIPIENT,
    OUT_OF_TERRITORY,
    RADIATION,
    RETRAIT,
    Delivery,
    decide,
    reevaluate,
)
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique

ROUEN, LE_HAVRE = "76540", "76351"


def actor(aid: str, version: int = 1, **filters: object) -> Actor:
    return Actor(
        id=aid, name=aid, kind="bailleur", version=version, filters=ActorFilters(**filters)
    )  # type: ignore[arg-type]


@pytest.fixture()
def index(geography):  # type: ignore[no-untyped-def]
    return TerritoryIndex(
        geography, [actor("rouen", communes=[ROUEN]), actor("havre", communes=[LE_HAVRE])]
    )


def test_creation_then_move_out_of_territory(index: TerritoryIndex) -> None:
    num = new_num_unique()
    d1 = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1)
    assert d1.deliveries == [Delivery("rouen", DEMANDE)]
    assert d1.state is not None and d1.state.version == 1
    d2 = decide(
        demande_event(num, [LE_HAVRE], operation="MOD"), d1.state, index, partition=0, offset=2
    )
    assert d2.deliveries == [
        Delivery("havre", DEMANDE),
        Delivery("rouen", RETRAIT, OUT_OF_TERRITORY),
    ]
    assert d2.state is not None and d2.state.recipients == {"havre"} and d2.state.version == 2


def test_radiation_reaches_every_past_recipient(index: TerritoryIndex) -> None:
    num = new_num_unique()
    s = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1).state
    rad = demande_event(
        num,
        [LE_HAVRE],
        operation="RAD",
        radiation={"dateRadiation": "2026-01-02", "motifRadiation": "RADATT"},
    )
    d = decide(rad, s, index, partition=0, offset=2)
    assert {x.actor_id for x in d.deliveries if x.kind == RADIATION} == {"rouen", "havre"}
    assert d.state is not None and not d.state.active


def test_radiation_tells_former_recipients_without_data(index: TerritoryIndex) -> None:
    num = new_num_unique()
    s = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1).state
    s = decide(
        demande_event(num, [LE_HAVRE], operation="MOD"), s, index, partition=0, offset=2
    ).state
    assert s is not None and s.former == {"rouen"}
    rad = demande_event(
        num,
        [LE_HAVRE],
        operation="RAD",
        radiation={"dateRadiation": "2026-01-02", "motifRadiation": "RADATT"},
    )
    d = decide(rad, s, index, partition=0, offset=3)
    assert d.deliveries == [
        Delivery("havre", RADIATION),
        Delivery("rouen", RADIATION, FORMER_RECIPIENT),
    ]
    assert d.state is not None and not d.state.active


def test_deletion_withdraws_without_state(index: TerritoryIndex) -> None:
    num = new_num_unique()
    s = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1).state
    d = decide(demande_event(num, [], operation="SUP"), s, index, partition=0, offset=2)
    assert d.delete and [x.kind for x in d.deliveries] == [RETRAIT]


def test_replays_are_skipped(index: TerritoryIndex) -> None:
    num = new_num_unique()
    ev = demande_event(num, [ROUEN])
    s = decide(ev, None, index, partition=0, offset=5).state
    assert decide(ev, s, index, partition=0, offset=9).skipped  # same event id
    assert decide(
        demande_event(num, [ROUEN], operation="MOD"), s, index, partition=0, offset=5
    ).skipped
    assert not decide(
        demande_event(num, [ROUEN], operation="MOD"), s, index, partition=0, offset=6
    ).skipped


def test_filter_change_copies_and_withdraws(index: TerritoryIndex) -> None:
    num = new_num_unique()
    s = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1).state
    assert s is not None
    index.upsert(actor("havre", version=2, communes=[LE_HAVRE, ROUEN]))
    copy = reevaluate(s, "havre", index)
    assert copy is not None and copy.deliveries == [Delivery("havre", COPIE)]
    assert copy.state is not None
    index.upsert(actor("rouen", version=2, communes=[LE_HAVRE]))
    gone = reevaluate(copy.state, "rouen", index)
    assert gone is not None and gone.deliveries == [Delivery("rouen", RETRAIT, FILTERS_CHANGED)]
    assert reevaluate(copy.state, "havre", index) is None  # nothing changes twice


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda e: e.update(numUnique="123"), InvalidNumUniqueError),
        (lambda e: e.update(operation="XXX"), InputError),
        (
            lambda e: e["demande"]["demandeLogement"]["logementRecherche"].update(
                listeLocalisationSouhaite=[{"commune": "99999"}]
            ),
            UnknownCommuneError,
        ),
        (
            lambda e: e["demande"]["demandeLogement"]["logementRecherche"].update(
                listeTypeLogement=["T9"]
            ),
            InputError,
        ),
        (lambda e: e.update(demande=None), InputError),
    ],
)
def test_invalid_events(index: TerritoryIndex, mutate, error) -> None:  # type: ignore[no-untyped-def]
    ev = demande_event(new_num_unique(), [ROUEN])
    mutate(ev)
    with pytest.raises(error):
        decide(ev, None, index)


def test_a_live_demand_wishing_no_commune_reaches_nobody(index: TerritoryIndex) -> None:
    """Issue 17: logementRecherche is optional in the SNE outline; such a demand is valid
    (it used to be refused as ``no_commune``) and no territorial filter matches it."""
    ev = demande_event(new_num_unique(), [ROUEN])
    del ev["demande"]["demandeLogement"]["logementRecherche"]
    decision = decide(ev, None, index)
    assert decision.state is not None and decision.state.active and decision.deliveries == []


def test_an_older_event_published_again_does_not_roll_back(index: TerritoryIndex) -> None:
    num = new_num_unique()
    cre = demande_event(num, [ROUEN])
    s = decide(cre, None, index, partition=0, offset=1).state
    s = decide(
        demande_event(num, [LE_HAVRE], operation="MOD"), s, index, partition=0, offset=2
    ).state
    again = decide(cre, s, index, partition=0, offset=3)  # the same CRE file dropped twice
    assert again.skipped and again.state is s
