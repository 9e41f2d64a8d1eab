"""Later ``MOD`` and ``RAD`` events for generated demands."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hub.dev.generate.demandes import clone, new_event
from hub.dev.generate.household import draw_phone, weighted_pick
from hub.dev.generate.territory import area_of
from hub.dev.generate.vocabulary import (
    F_COMMUNES,
    F_RADIATION,
    F_RESSOURCES,
    F_TEL,
    F_TYPOLOGIES,
    TYPOLOGIES,
    Event,
)
from hub.domain.geo import Geography


def generate_modifications(
    events: Iterable[Event],
    seed: int,
    *,
    geography: Geography,
    modification_rate: float = 0.3,
    radiation_rate: float = 0.05,
    max_modifications: int = 3,
) -> list[Event]:
    """Later ``MOD`` and ``RAD`` events for the demands created in ``events``.

    For each ``CRE``/``CRS`` event: with probability ``modification_rate``, 1 to
    ``max_modifications`` MOD events (new eventId, later occurredAt, full snapshot after the
    change, ``changedFields`` naming the changed paths: wished communes — sometimes moved to
    another EPCI of the département —, typologies, resources or mobile phone); then, with
    probability ``radiation_rate``, one final RAD event (``demandeLogement.radiation`` with a
    date and a motive code). The input events are not modified. Returns all new events
    sorted by ``occurredAt`` (a demand's own events are always in order).
    """
    rng = random.Random(seed)
    out: list[Event] = []
    for created in events:
        if created.get("operation") not in ("CRE", "CRS") or created.get("demande") is None:
            continue
        demande: Event = created["demande"]
        at = datetime.fromtimestamp(created["occurredAt"] / 1000, tz=UTC)
        count = rng.randint(1, max_modifications) if rng.random() < modification_rate else 0
        for _ in range(count):
            at += timedelta(days=rng.randint(1, 90), seconds=rng.randrange(86400))
            demande = clone(demande)
            changed = _modify(rng, geography, demande)
            out.append(new_event(rng, created["numUnique"], "MOD", at, demande, changed))
        if rng.random() < radiation_rate:
            at += timedelta(days=rng.randint(1, 120), seconds=rng.randrange(86400))
            demande = clone(demande)
            motif = weighted_pick(
                rng, [("RADATT", 50), ("RADABA", 20), ("RADREN", 15), ("RADCON", 10), ("RADIRR", 5)]
            )
            radiation: Event = {"dateRadiation": at.date().isoformat(), "motifRadiation": motif}
            if motif == "RADIRR":
                radiation["sousMotifIrrecevabilite"] = rng.choice(("IRRRES", "IRRSEJ"))
            if motif == "RADCON":
                radiation["absenceReponse"] = {
                    "dateCourrier": (at.date() - timedelta(days=61)).isoformat()
                }
            demande["demandeLogement"]["radiation"] = radiation
            out.append(new_event(rng, created["numUnique"], "RAD", at, demande, [F_RADIATION]))
    out.sort(key=lambda e: e["occurredAt"])  # stable: a demand's events keep their order
    return out


def _modify(rng: random.Random, geo: Geography, demande: Event) -> list[str]:
    """Apply one random change to ``demande`` in place; return the changed dotted paths."""
    dl = demande["demandeLogement"]
    recherche = dl["logementRecherche"]
    pp = dl["personnePhysique"]
    what = weighted_pick(rng, [("communes", 30), ("move", 5), ("typologies", 25),
                           ("ressources", 25), ("tel", 15)])  # fmt: skip
    if what in ("communes", "move"):
        wishes = [w["commune"] for w in recherche["listeLocalisationSouhaite"]]
        first = wishes[0]
        # the département's area: few distinct ones, so the lru cache keeps them all
        area = area_of(geo, (geo.commune(first).departement,), None)
        if what == "move":  # the household now looks elsewhere in its département
            first = area.pool.pick(rng)
            wishes = [first]
        local = area.epci_pool(first)
        action = rng.choice(("add", "drop", "replace")) if what == "communes" else "add"
        if action == "drop" and len(wishes) > 1:
            wishes.pop(rng.randrange(1, len(wishes)))
        elif action == "replace" or (action == "drop" and len(wishes) == 1):
            wishes[0] = local.pick(rng)
        for _ in range(rng.randint(1, 3) if action == "add" else 0):
            c = local.pick(rng)
            if c not in wishes and len(wishes) < 8:
                wishes.append(c)
        wishes = list(dict.fromkeys(wishes))  # a replacement may duplicate a later wish
        recherche["listeLocalisationSouhaite"] = [{"commune": c, "quartier": None} for c in wishes]
        return [F_COMMUNES]
    if what == "typologies":
        adults = 1 + len(pp.get("listeCotitulaire") or [])
        kids = len(pp.get("listePersonneACharge") or [])
        low, high = (0, 2) if adults + kids == 1 else (2, 3) if kids == 0 else (3, 6)
        current = sorted(TYPOLOGIES.index(t) for t in recherche["listeTypeLogement"])
        if len(current) > 1 and rng.random() < 0.5:
            current.pop(rng.randrange(len(current)))
        else:
            grown = [i for i in (current[0] - 1, current[-1] + 1) if low <= i <= high]
            if grown:
                current.append(rng.choice(grown))
        recherche["listeTypeLogement"] = [TYPOLOGIES[i] for i in sorted(set(current))]
        return [F_TYPOLOGIES]
    if what == "ressources":
        ressources = pp["demandeur"]["listeRessourceRecue"]
        if ressources:
            r = rng.choice(ressources)
            r["montant"] = max(0, int(r["montant"] * rng.uniform(0.7, 1.3)))
        else:
            ressources.append({"ressource": "SAL", "montant": rng.randrange(700, 1500)})
        return [F_RESSOURCES]
    pp["demandeur"]["telPortable"] = draw_phone(rng, rng.choice(("06", "07")))
    return [F_TEL]
