"""Review Q, F1: the live index (TerritoryIndex.match/matches), the re-dispatch
(territory.wants over the demand's entries, scanned with territory.actor_keys) and the
place-by-place oracle (reliability.ledger.in_scope) must always agree, over the real
geography, with parts, wholes, former codes, EPCIs, départements, typologies and
first-choice-only."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import territory
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from reliability.ledger import in_scope
from tests.support.demandes import demande_event

GEO = get_geography()
WHOLES = ["75056", "69123", "13055", "74010"]


@functools.cache
def places() -> tuple[list[str], list[str], list[str], list[str]]:
    parts_of = {}
    for c in GEO.communes():
        p = GEO.commune(c).parent
        if p:
            parts_of.setdefault(p, []).append(c)
    wholes = set(WHOLES) | set(sorted(parts_of)[:40])
    codes = set(wholes)
    for w in wholes:
        codes |= set(sorted(parts_of[w])[:6])
    # plain communes of the same départements
    for c in sorted(GEO.communes()):
        pl = GEO.commune(c)
        plain = not pl.parent and c not in GEO._parents
        if plain and pl.departement in {"75", "69", "13", "74", "01", "14"} and len(codes) < 900:
            codes.add(c)
    # former codes: those resolving to a part, a whole, or a plain commune
    former = sorted(GEO._resolved)
    to_part = [o for o in former if GEO.commune(GEO._resolved[o]).parent]
    to_whole = [o for o in former if GEO.has_parts(GEO._resolved[o])][:40]
    formers = to_part + to_whole + former[:40]
    epcis = sorted({GEO.commune(c).epci for c in codes if GEO.commune(c).epci})
    deps = sorted({GEO.commune(GEO.resolve(c)).departement for c in codes | set(formers)})
    return sorted(codes), formers, epcis, deps


def _state(wishes: list[str], typos: list[str]) -> DemandeState:
    ev = demande_event("076112512015461460", wishes, typologies=typos)
    return DemandeState(num_unique=ev["numUnique"], version=1, active=True,
                        recipients=frozenset(), last_event_id="e", last_operation="CRE",
                        occurred_at=0, demande=ev["demande"])


def redispatch_wants(filters: ActorFilters, wishes: list[str], typos: list[str],
                     index: TerritoryIndex) -> bool:
    keys = territory.actor_keys(filters, GEO)
    hits = []
    for k, v in territory.entries(_state(wishes, typos), index).items():
        _, hit = territory.parse(k, v)
        if hit.commune_key in keys:  # what the scan under the actor's keys finds
            hits.append(hit)
    return territory.wants(filters, keys, hits)


TYPOS = ["C", "T1", "T2", "T3", "T4", "T5", "T6P"]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_live_redispatch_and_oracle_agree(data: Any) -> None:
    codes, formers, epcis, deps = places()
    pool = codes + formers
    communes = data.draw(st.lists(st.sampled_from(pool), max_size=3, unique=True))
    eps = data.draw(st.lists(st.sampled_from(epcis), max_size=1, unique=True))
    ds = data.draw(st.lists(st.sampled_from(deps), max_size=1, unique=True))
    if not (communes or eps or ds):
        communes = [data.draw(st.sampled_from(pool))]
    filters = ActorFilters(
        communes=communes, epcis=eps, departements=ds,
        typologies=data.draw(st.lists(st.sampled_from(TYPOS), max_size=2, unique=True)),
        premier_choix_seulement=data.draw(st.booleans()))
    a = Actor(id="a", name="a", kind="bailleur", filters=filters, version=1)
    wishes = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    typos = data.draw(st.lists(st.sampled_from(TYPOS), min_size=1, max_size=3, unique=True))
    index = TerritoryIndex(GEO, [a])
    oracle = in_scope(a, wishes, typos, GEO)
    live = "a" in index.match(wishes, typos)
    one = index.matches("a", wishes, typos)
    redis = redispatch_wants(filters, wishes, typos, index)
    assert (live, one, redis) == (oracle, oracle, oracle), (filters, wishes, typos)
