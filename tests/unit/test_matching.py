"""Territorial matching over the real geography: communes, EPCI, départements,
Corsica and overseas, first choice only, typologies, unknown communes."""

from __future__ import annotations

import pytest

from hub.core.errors import UnknownCommuneError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex

ROUEN, SOTTEVILLE, LE_HAVRE = "76540", "76681", "76351"
METROPOLE_ROUEN = "200023414"


def actor(aid: str, **filters: object) -> Actor:
    return Actor(id=aid, name=aid, kind="bailleur", filters=ActorFilters(**filters))  # type: ignore[arg-type]


@pytest.fixture()
def index(geography):  # type: ignore[no-untyped-def]
    return TerritoryIndex(
        geography,
        [
            actor("by-commune", communes=[ROUEN]),
            actor("by-epci", epcis=[METROPOLE_ROUEN]),
            actor("by-dep", departements=["76"]),
            actor("first-only", communes=[SOTTEVILLE], premier_choix_seulement=True),
            actor("t5-only", departements=["76"], typologies=["T5", "T6P"]),
            actor("corse-sud", departements=["2A"]),
            actor("reunion", departements=["974"]),
            actor("ajaccio", communes=["2A004"]),
            actor("paris", communes=["75056"]),
        ],
    )


def test_commune_epci_departement(index: TerritoryIndex) -> None:
    assert index.match([ROUEN], ["T2"]) == {"by-commune", "by-epci", "by-dep"}
    assert index.match([LE_HAVRE], ["T2"]) == {"by-dep"}  # outside the Rouen EPCI


def test_first_choice_only(index: TerritoryIndex) -> None:
    assert "first-only" in index.match([SOTTEVILLE, ROUEN], ["T2"])
    assert "first-only" not in index.match([ROUEN, SOTTEVILLE], ["T2"])
    assert index.matches("first-only", [SOTTEVILLE], ["T1"])
    assert not index.matches("first-only", [ROUEN, SOTTEVILLE], ["T1"])


def test_typologies(index: TerritoryIndex) -> None:
    assert "t5-only" not in index.match([ROUEN], ["T2", "T3"])
    assert "t5-only" in index.match([ROUEN], ["T3", "T5"])


def test_corsica_and_overseas(index: TerritoryIndex) -> None:
    assert index.match(["2A004"], ["T2"]) == {"corse-sud", "ajaccio"}
    assert index.match(["2B033"], ["T2"]) == set()  # Haute-Corse: not 2A
    assert index.match(["97411"], ["T2"]) == {"reunion"}


def test_paris_arrondissement_belongs_to_paris(index: TerritoryIndex) -> None:
    assert "paris" in index.match(["75112"], ["T2"])


def test_unknown_commune_is_an_error(index: TerritoryIndex) -> None:
    with pytest.raises(UnknownCommuneError):
        index.match(["99999"], ["T2"])


def test_update_and_remove(index: TerritoryIndex) -> None:
    index.upsert(actor("by-commune", communes=[LE_HAVRE]).model_copy(update={"version": 2}))
    assert "by-commune" not in index.match([ROUEN], ["T2"])
    assert "by-commune" in index.match([LE_HAVRE], ["T2"])
    # an older version never overrides a newer one
    assert not index.upsert(actor("by-commune", communes=[ROUEN]).model_copy(update={"version": 1}))
    index.remove("by-dep")
    assert "by-dep" not in index.match([LE_HAVRE], ["T2"])


def test_actor_changes_after_a_match_are_seen(index: TerritoryIndex) -> None:
    """The per-commune resolution is cached: adding, changing and removing an actor after
    a match must show in the next match."""
    assert "late" not in index.match([ROUEN], ["T2"])
    index.upsert(actor("late", communes=[ROUEN]))
    assert "late" in index.match([ROUEN], ["T2"])
    index.upsert(Actor(id="late", name="late", kind="bailleur", version=2,
                       filters=ActorFilters(communes=[ROUEN], typologies=["T5"])))
    assert "late" not in index.match([ROUEN], ["T2"])
    assert "late" in index.match([ROUEN], ["T5"])
    index.upsert(Actor(id="late", name="late", kind="bailleur", version=3,
                       filters=ActorFilters(communes=[SOTTEVILLE], premier_choix_seulement=True)))
    assert "late" not in index.match([ROUEN, SOTTEVILLE], ["T2"])
    assert "late" in index.match([SOTTEVILLE, ROUEN], ["T2"])
    index.remove("late")
    assert "late" not in index.match([SOTTEVILLE], ["T2"])
