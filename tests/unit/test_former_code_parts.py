"""Review Q, F1: an actor registered on a code that has since merged into a commune
déléguée (01086 Sutrieu -> 01414, part of 01036 Valromey-sur-Séran) is on that part
(6ece7fa resolves its filter to today's code), so by the contract (a part wants the
demands wishing its whole commune, dbbc756) and the ledger's oracle it must receive a
demand wishing the whole commune. It does not: whole_of_parts() looks the filter's raw
code up with Geography.commune (strict), which refuses the former code, so no w: key."""

from __future__ import annotations

import pytest

from dispatch import territory
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from reliability.ledger import in_scope

GEO = get_geography()
#: every former code of the successor table that resolves to an arrondissement/déléguée
FORMER_TO_PART = sorted(o for o in GEO._resolved if GEO.commune(GEO._resolved[o]).parent)


def test_there_are_such_codes() -> None:
    assert len(FORMER_TO_PART) >= 50


@pytest.mark.parametrize("former", FORMER_TO_PART)
def test_an_actor_on_a_former_code_now_a_part_gets_the_whole(former: str) -> None:
    part = GEO.resolve(former)
    whole = GEO.commune(part).parent
    a = Actor(id="a", name="a", kind="bailleur",
              filters=ActorFilters(communes=[former]), version=1)
    assert in_scope(a, [whole], ["T2"], GEO)  # the oracle: yes
    index = TerritoryIndex(GEO, [a])
    assert "a" in index.match([whole], ["T2"]), (former, part, whole)  # live: no
    assert f"w:{whole}" in territory.actor_keys(a.filters, GEO)  # re-dispatch scan: no
