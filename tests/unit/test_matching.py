"""Territorial matching over the real geography: communes, EPCI, départements,
Corsica and overseas, first choice only, typologies, unknown communes."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.errors import UnknownCommuneError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from reliability.ledger import in_scope

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


# -- a commune and its parts, both ways (audit P, F1) -------------------------------------
#: (part, its whole) from INSEE's COG: arrondissements municipaux of Paris, Lyon and
#: Marseille; Annecy-le-Vieux, commune déléguée of Annecy (commune nouvelle, 2017)
PARTS = [("75112", "75056"), ("69383", "69123"), ("13201", "13055"), ("74011", "74010")]


@pytest.mark.parametrize(("part", "whole"), PARTS)
def test_an_actor_on_a_part_gets_the_demands_wishing_its_whole_commune(
        geography: Any, part: str, whole: str) -> None:  # fmt: skip
    """A demand wishing Paris wishes every arrondissement: the landlord registered on the
    12th gets it (it never did), not a demand wishing another part; the actor on the whole
    still gets the part's demands."""
    sibling = next(c for c in sorted(geography.communes())
                   if geography.commune(c).parent == whole and c != part)  # fmt: skip
    index = TerritoryIndex(geography, [actor("on-part", communes=[part]),
                                       actor("on-whole", communes=[whole])])  # fmt: skip
    assert index.match([whole], ["T2"]) == {"on-part", "on-whole"}
    assert index.match([part], ["T2"]) == {"on-part", "on-whole"}
    assert index.match([sibling], ["T2"]) == {"on-whole"}
    assert index.matches("on-part", [sibling, whole], ["T2"])
    assert not index.matches("on-part", [sibling], ["T2"])


@functools.cache
def _places(geography: Any) -> list[str]:
    """Codes around the communes that have parts: the wholes, their parts, and current
    communes of the same départements without parts."""
    wholes = {"75056", "69123", "13055", "74010", "14341", "49092"}
    codes = set(wholes)
    for c in geography.communes():
        place = geography.commune(c)
        if place.parent in wholes or (place.departement in {"74", "69"} and c < "69010"):
            codes.add(c)
    return sorted(codes)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_part_and_whole_match_as_places_do(geography: Any, data: Any) -> None:
    """Over the real geography: whatever communes an actor is registered on and a demand
    wishes (parts, wholes, plain communes), the index says what the places say
    (reliability.ledger.in_scope, written place by place, not with index keys), and
    ``matches`` agrees with ``match``."""
    places = _places(geography)
    mine = data.draw(st.lists(st.sampled_from(places), min_size=1, max_size=3, unique=True))
    wishes = data.draw(st.lists(st.sampled_from(places), min_size=1, max_size=4, unique=True))
    a = actor("a", communes=mine)
    index = TerritoryIndex(geography, [a])
    expected = in_scope(a, wishes, ["T2"], geography)
    assert ("a" in index.match(wishes, ["T2"])) == expected, (mine, wishes)
    assert index.matches("a", wishes, ["T2"]) == expected, (mine, wishes)


@pytest.mark.parametrize("written", ["2a004", " 2A004", "2A004 ", "2a004\t"])
def test_a_wished_commune_in_any_case_is_the_commune(index: TerritoryIndex,
                                                    written: str) -> None:  # fmt: skip
    """The SNE's commune code is [a-zA-Z0-9]{1,5} (InterfaceNuu t_commune): "2a004" is
    Ajaccio, as an actor filter's "2a004" is (audit P, F3: refused as unknown)."""
    assert index.match([written], ["T2"]) == {"corse-sud", "ajaccio"}


@pytest.mark.parametrize(("commune", "code"), [("98714", "987"), ("98611", "986"),
                                               ("98818", "988"), ("97502", "975")])
def test_an_overseas_collectivity_registers_as_its_communes_do(geography: Any, commune: str,
                                                               code: str) -> None:  # fmt: skip
    """A collectivité d'outre-mer whose communes the hub knows (Polynésie 987, Wallis 986,
    Nouvelle-Calédonie 988, Saint-Pierre-et-Miquelon 975) can be registered as a whole, as
    its communes can one by one (audit P, F4: 987 was refused as malformed, 975 accepted)."""
    index = TerritoryIndex(geography, [actor("com", departements=[code])])
    assert index.match([commune], ["T2"]) == {"com"}


def test_saint_barthelemy_and_saint_martin_before_2007(geography: Any) -> None:
    """A demand wishing 97123 or 97127 (Guadeloupe's codes of Saint-Barthélemy and
    Saint-Martin until 2007-07-15) reaches the actors of 977 and 978 (audit P, F4: refused
    as unknown, while Corsica's 20004 resolved to 2A004)."""
    index = TerritoryIndex(geography, [actor("sb", departements=["977"]),
                                       actor("sm", communes=["97801"])])  # fmt: skip
    assert index.match(["97123"], ["T2"]) == {"sb"}
    assert index.match(["97127"], ["T2"]) == {"sm"}
