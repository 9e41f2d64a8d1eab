"""The ledger: what each actor must receive, written down before the run.

The generator (:mod:`hub.dev.generate`) draws demand events over one département; a fixed set
of actors is drawn over the same territory (communes, EPCIs, the whole département, with
typology and first-choice filters). The ledger is computed here from the **public
delivery contract** (docs/architecture.md, dispatch/processor.py), not by calling the
dispatcher's own code, so a dispatch bug cannot hide in the oracle:

* CRE/MOD: every actor whose filters accept the version gets ``DEMANDE``; an actor that
  had the demand and no longer matches gets ``RETRAIT``;
* RAD: everyone who had it, anyone it matches now and every former recipient gets
  ``RADIATION``.

Each entry is (event id, kind), in per-demand order. Actors are registered before the
events are published, so no copy (``COPIE``) is owed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.dev.generate import generate_demandes, generate_modifications
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import Geography

Entry = tuple[str, str]  # (eventId, kind)


@dataclass(frozen=True, slots=True)
class Expected:
    """One feed record an actor must receive."""

    num_unique: str
    event_id: str
    kind: str
    #: position of the event in its demand's history (0 = creation)
    seq: int


@dataclass(slots=True)
class Ledger:
    actors: list[Actor]
    events: list[dict[str, Any]]
    #: actor id -> records owed, in publication order
    owed: dict[str, list[Expected]] = field(default_factory=dict)

    @property
    def total_owed(self) -> int:
        return sum(len(v) for v in self.owed.values())


def in_scope(actor: Actor, wishes: Sequence[str], typologies: Sequence[str],
             geo: Geography) -> bool:  # fmt: skip
    """Whether ``actor``'s filters accept a demand (the contract of docs/architecture.md),
    said place by place rather than with the hub's index keys: a wished commune (a former
    code stands for today's) is in the actor's territory when it is one of its communes,
    or a part of one of them (75112 of 75056), or the whole commune one of them is a part
    of (75056 for an actor on 75112: a demand wishing Paris wishes every arrondissement),
    or lies in one of its EPCI or départements."""
    f = actor.filters
    if f.typologies and not set(f.typologies) & set(typologies):
        return False
    for rank, commune in enumerate(wishes):
        if f.premier_choix_seulement and rank > 0:
            break
        if _in_territory(actor, commune, geo):
            return True
    return False


def _in_territory(actor: Actor, commune: str, geo: Geography) -> bool:
    f = actor.filters
    place = geo.commune(geo.resolve(commune))
    whole = place.parent or place.code
    for code in f.communes:
        mine = geo.resolve(code)  # an actor registered before its commune merged
        if mine in (place.code, whole) or geo.commune(mine).parent == place.code:
            return True
    return place.epci in f.epcis or place.departement in f.departements


def _wishes(event: dict[str, Any]) -> tuple[list[str], list[str]]:
    lr = event["demande"]["demandeLogement"]["logementRecherche"]
    return ([w["commune"] for w in lr["listeLocalisationSouhaite"]],
            list(lr["listeTypeLogement"]))  # fmt: skip


def draw_actors(geo: Geography, departement: str, count: int, seed: int,
                prefix: str) -> list[Actor]:  # fmt: skip
    """``count`` actors over ``departement``: one for the whole département, the others on
    a few communes or one EPCI, some with typology or first-choice filters."""
    rng = random.Random(seed)
    communes = sorted(geo.communes_of_departement(departement))
    by_pop = sorted(communes, key=lambda c: -geo.population(c))[:40]
    epcis = sorted({e for c in by_pop if (e := geo.commune(c).epci)})
    actors = [Actor(id=f"{prefix}-dep", name="Département", kind="etat",
                    profile="consultant_demande",
                    filters=ActorFilters(departements=[departement]))]  # fmt: skip
    for i in range(1, count):
        if i % 3 == 0 and epcis:
            filters = ActorFilters(epcis=[rng.choice(epcis)])
        else:
            filters = ActorFilters(communes=rng.sample(by_pop, k=rng.randint(1, 4)))
        if i % 4 == 1:
            filters = filters.model_copy(update={"typologies": ["T2", "T3"]})
        if i % 5 == 2:
            filters = filters.model_copy(update={"premier_choix_seulement": True})
        actors.append(Actor(id=f"{prefix}-a{i}", name=f"Bailleur {i}", kind="bailleur",
                            profile=rng.choice(["consultant_simple", "consultant_demande"]),
                            filters=filters))  # fmt: skip
    return actors


def build_ledger(geo: Geography, actors: list[Actor], events: Iterable[dict[str, Any]]) -> Ledger:
    """The records each actor is owed for ``events`` (in publication order)."""
    ledger = Ledger(actors=actors, events=list(events), owed={a.id: [] for a in actors})
    had: dict[str, set[str]] = {}
    former: dict[str, set[str]] = {}
    seq: dict[str, int] = {}
    for ev in ledger.events:
        num, op, eid = ev["numUnique"], ev["operation"], ev["eventId"]
        n = seq[num] = seq.get(num, -1) + 1
        wishes, typologies = _wishes(ev)
        matched = {a.id for a in actors if in_scope(a, wishes, typologies, geo)}
        before = had.get(num, set())
        gone = former.get(num, set())
        owed: list[tuple[str, str]]
        if op == "RAD":
            now = before | matched
            owed = [(a, "RADIATION") for a in now | gone]
            had[num], former[num] = now, set()
        else:
            owed = [(a, "DEMANDE") for a in matched]
            owed += [(a, "RETRAIT") for a in before - matched]
            had[num], former[num] = matched, (gone | (before - matched)) - matched
        for actor_id, kind in owed:
            ledger.owed[actor_id].append(Expected(num, eid, kind, n))
    return ledger


def generate(geo: Geography, *, events: int, seed: int, departement: str, actors: int,
             prefix: str) -> Ledger:  # fmt: skip
    """Draw about ``events`` demand events (CRE, then MOD/RAD) and the ledger for them."""
    creations = max(1, round(events / 1.65))  # ~0.6 MOD and ~0.05 RAD per creation
    cre = list(generate_demandes(creations, seed, geography=geo, departements=[departement]))
    later = generate_modifications(cre, seed + 1, geography=geo)
    merged = sorted(cre + later, key=lambda e: e["occurredAt"])[:events]
    return build_ledger(geo, draw_actors(geo, departement, actors, seed, prefix), merged)
