"""W4's stock of demands: what was published, and who is owed what, computed apart.

Every demand published in a W4 run (the stock, the trickle) is remembered by its event id
and wishes. :meth:`Stock.owed` tells, for a set of actors, the event ids each must have in
its feed: the demands :func:`reliability.ledger.in_scope` (the delivery contract, not the
dispatcher's code) puts in its scope. An inverted index of the actors' territory keys
keeps this linear in the stock: only actors sharing a commune, EPCI or département key
with a demand are asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hub.domain.actors import Actor
from hub.domain.decisions import CREATIONS
from hub.domain.geo import Geography
from hub.domain.matching import whole_of_parts
from reliability.ledger import in_scope


@dataclass(frozen=True, slots=True)
class Demand:
    event_id: str
    num_unique: str
    wishes: tuple[str, ...]
    typologies: tuple[str, ...]


def demand_of(event: dict[str, Any]) -> Demand:
    lr = event["demande"]["demandeLogement"].get("logementRecherche") or {}
    wishes = tuple(w["commune"] for w in lr.get("listeLocalisationSouhaite") or ())
    return Demand(event["eventId"], event["numUnique"], wishes,
                  tuple(lr.get("listeTypeLogement") or ()))  # fmt: skip


def actor_keys(actor: Actor, geo: Geography) -> set[str]:
    """The keys of the hub's matching (hub.domain.matching): ``w:`` of the whole commune
    of a part an actor is registered on."""
    f = actor.filters
    return ({f"c:{c}" for c in f.communes} | {f"e:{e}" for e in f.epcis}
            | {f"d:{d}" for d in f.departements}
            | {f"w:{w}" for w in whole_of_parts(f.communes, geo)})  # fmt: skip


@dataclass(slots=True)
class Stock:
    geo: Geography
    #: numéro unique -> the demand as last published (its latest event id: a copy
    #: carries the id of the version it copies)
    by_num: dict[str, Demand] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> Demand:
        """The demand as the worker holds it after ``event``: a creation of a numéro
        already held (the generator draws a few numéros twice: 24 in the 200k stock) is
        refused by the worker (``demande_existante``, docs/reliability.md), so the first
        one stays; any other event replaces it."""
        d = demand_of(event)
        held = self.by_num.get(d.num_unique)
        if held is not None and event.get("operation") in CREATIONS:
            return held
        self.by_num[d.num_unique] = d
        return d

    @property
    def demands(self) -> Iterable[Demand]:
        return self.by_num.values()

    def __len__(self) -> int:
        return len(self.by_num)


class Scope:
    """Who among ``actors`` has a demand in scope (:func:`reliability.ledger.in_scope`),
    asked only of the actors sharing a territory key with the demand's wishes."""

    def __init__(self, actors: Sequence[Actor], geo: Geography) -> None:
        self.geo = geo
        self.by_key: dict[str, list[Actor]] = {}
        for a in actors:
            for k in actor_keys(a, geo):
                self.by_key.setdefault(k, []).append(a)
        self.ids = [a.id for a in actors]
        self._keys = _place_keys(geo)

    def of(self, d: Demand) -> list[str]:
        seen: set[str] = set()
        out = []
        for commune in d.wishes:
            for k in self._keys(commune):
                for a in self.by_key.get(k, ()):
                    if a.id not in seen:
                        seen.add(a.id)
                        if _in_scope(a, d, self.geo):
                            out.append(a.id)
        return out

    def owed(self, demands: Iterable[Demand]) -> dict[str, set[str]]:
        """Actor id -> event ids of ``demands`` in its scope."""
        out: dict[str, set[str]] = {a: set() for a in self.ids}
        for d in demands:
            for a in self.of(d):
                out[a].add(d.event_id)
        return out


def _in_scope(actor: Actor, d: Demand, geo: Geography) -> bool:
    try:
        return in_scope(actor, d.wishes, d.typologies, geo)
    except Exception:  # a code the geography does not know: nobody's scope
        return False


def _place_keys(geo: Geography) -> Any:
    @cache
    def keys(commune: str) -> frozenset[str]:
        try:
            place = geo.commune(commune)
        except Exception:
            return frozenset()
        out = {f"c:{place.code}", f"d:{place.departement}"}
        if place.parent:
            out.add(f"c:{place.parent}")
        elif geo.has_parts(place.code):
            out.add(f"w:{place.code}")
        if place.epci:
            out.add(f"e:{place.epci}")
        return frozenset(out)

    return keys
