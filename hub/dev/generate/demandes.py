"""Demand creation events (``CRE``): numbering, wished communes, the full snapshot."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.core.errors import InputError
from hub.dev.generate.household import (
    ascii_key,
    birth_date,
    draw_child,
    draw_logement_actuel,
    draw_motifs,
    draw_person,
    draw_phone,
    draw_revenu_fiscal,
    draw_situation_pro,
    draw_typologies,
    weighted_pick,
)
from hub.dev.generate.pieces import draw_pieces
from hub.dev.generate.territory import Area, Pool, area_of, guichets_of, territory_prefix
from hub.dev.generate.vocabulary import (
    BESOINS_HANDICAP,
    DEFAULT_UNTIL,
    LOGEMENT_ACTUEL,
    NOMS,
    PRENOMS_F,
    PRENOMS_M,
    SOURCE,
    VERSION_INTERFACE,
    VOIES,
    WINDOW,
    Event,
)
from hub.domain.geo import Geography


def clone(obj: Any) -> Any:
    """Deep copy of JSON-like data, several times faster than ``copy.deepcopy``."""
    if isinstance(obj, dict):
        return {k: clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone(v) for v in obj]
    return obj


def new_event(rng: random.Random, num: str, op: str, at: datetime, demande: Event | None,
               changed: list[str]) -> Event:  # fmt: skip
    return {
        "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "numUnique": num,
        "operation": op,
        "occurredAt": int(at.timestamp() * 1000),
        "source": SOURCE,
        "changedFields": changed,
        "versionInterface": VERSION_INTERFACE,
        "demande": demande,
    }


@dataclass(slots=True)
class _Numbering:
    """Sequence numbers of numéros uniques, per (territory, MMYY): unique within a call."""

    rng: random.Random
    counters: dict[tuple[str, str], int] = field(default_factory=dict)

    def next(self, territory: str, mmyy: str) -> int:
        key = (territory, mmyy)
        n = self.counters.get(key)
        # start low enough that millions of demands per territory-month still fit
        n = self.rng.randrange(1, 300_000) if n is None else n + self.rng.randint(1, 3)
        if n > 999_999:
            raise InputError(f"too many demands for territory {territory} in {mmyy}")
        self.counters[key] = n
        return n


def generate_demandes(
    n: int,
    seed: int,
    *,
    geography: Geography,
    departements: list[str] | None = None,
    epci: str | None = None,
    until: datetime | None = None,
) -> Iterator[Event]:
    """Yield ``n`` demand creation events (operation ``CRE``), in ``occurredAt`` order.

    Wished communes are drawn, weighted by population, from ``epci`` if given (intersected
    with ``departements`` if both are), else from ``departements``, else from all France;
    the other wishes come from the EPCI of the first choice. Creation dates spread over the
    year before ``until`` (default :data:`DEFAULT_UNTIL`). Raises :class:`InputError` for an
    unknown EPCI/département or a territory without inhabited commune.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    area = area_of(geography, tuple(sorted(departements)) if departements else None, epci)
    rng = random.Random(seed)
    numbering = _Numbering(rng)
    end = until or DEFAULT_UNTIL
    start = end - WINDOW
    step = WINDOW / max(n, 1)
    for i in range(n):
        at = start + step * (i + rng.random())  # strictly increasing: events in time order
        yield _demande_event(rng, area, numbering, at)


def _draw_wishes(rng: random.Random, area: Area) -> tuple[list[str], Pool]:
    """1–8 distinct wished communes: the first by population in the area, the others
    within the EPCI of the first (returned too, for the residence draw)."""
    first = area.pool.pick(rng)
    local = area.epci_pool(first)
    wanted = rng.choices((1, 2, 3, 4, 5, 6, 7, 8), weights=(30, 20, 18, 12, 8, 5, 4, 3))[0]
    wanted = min(wanted, len(local.codes))
    communes = [first]
    for _ in range(wanted * 4):  # bounded retries: small EPCIs have few distinct draws
        if len(communes) >= wanted:
            break
        c = local.pick(rng)
        if c not in communes:
            communes.append(c)
    return communes, local


def _demande_event(rng: random.Random, area: Area, numbering: _Numbering, at: datetime) -> Event:
    geo = area.geo
    created = at.date()

    communes, local = _draw_wishes(rng, area)
    first = communes[0]
    dep = geo.commune(first).departement

    # household
    kind = weighted_pick(rng, [("seul", 45), ("mono", 22), ("couple", 10), ("famille", 23)])
    adults = 2 if kind in ("couple", "famille") else 1
    kids = 0 if kind in ("seul", "couple") else rng.choices((1, 2, 3, 4, 5), (35, 33, 18, 9, 5))[0]
    if kind == "seul":
        age = rng.choices((rng.randint(18, 29), rng.randint(30, 59), rng.randint(60, 90)),
                          weights=(35, 40, 25))[0]  # fmt: skip
    elif kind == "couple":
        age = rng.choice((rng.randint(20, 35), rng.randint(36, 85)))
    else:
        age = rng.randint(20 + kids * 2, 55)
    civilite = "2" if (kind == "mono" and rng.random() < 0.85) else rng.choice(("1", "2"))
    if kind in ("couple", "famille"):
        situation = weighted_pick(rng, [("M", 45), ("P", 20), ("U", 35)])
    elif age >= 65 and rng.random() < 0.4:
        situation = "V"
    else:
        situation = weighted_pick(rng, [("C", 60), ("D", 22), ("S", 18)]
                                  if kind == "seul" or age > 30
                                  else [("C", 85), ("S", 15)])  # fmt: skip
    nationalite = weighted_pick(rng, [("1", 84), ("2", 5), ("3", 11)])
    nom = rng.choice(NOMS)
    handicap = rng.random() < 0.06
    demandeur = draw_person(rng, created, age, civilite, nom, kids)
    seniors = [(c, w) for c, w in LOGEMENT_ACTUEL if c not in ("RE", "CPE")]
    logement = weighted_pick(rng, LOGEMENT_ACTUEL if age < 63 else seniors)
    if demandeur.contrat == "ETU" and rng.random() < 0.5:
        logement = "RE"
    if handicap:
        demandeur.ressources.append({"ressource": "AAH", "montant": rng.randrange(700, 1017)})
    if kids >= 2:
        demandeur.ressources.append({"ressource": "AF", "montant": 140 + 180 * (kids - 2)})
    if kind == "mono" and rng.random() < 0.3:
        demandeur.ressources.append({"ressource": "PAR", "montant": rng.randrange(100, 400)})

    # residence: mostly in the first wished commune or its EPCI
    residence = rng.choices((first, local.pick(rng), area.pool.pick(rng)), weights=(70, 20, 10))[0]
    postal = (geo.postal_codes(residence) or ("00000",))[0]
    adresse: Event = {
        "etranger": False,
        "numero": str(rng.randint(1, 180)),
        "voie": rng.choice(VOIES),
        "codePostal": postal,
        "commune": residence,
    }
    if logement in ("HLM", "LP", "RS", "RHVS") and rng.random() < 0.6:
        adresse["appartement"] = str(rng.randint(1, 120))
        adresse["etage"] = str(rng.randint(0, 12))
    if logement in ("CP", "LTG"):
        adresse["nomHebergeant"] = f"{rng.choice(PRENOMS_F + PRENOMS_M)} {rng.choice(NOMS)}"

    mail = f"{ascii_key(demandeur.prenom)}.{ascii_key(nom)}{rng.randint(1, 99)}@example.org"
    pp_demandeur: Event = {
        "civilite": civilite,
        "nom": nom,
        "prenom": demandeur.prenom,
        "dateNaissance": demandeur.naissance.isoformat(),
        "nationalite": nationalite,
        "situationFamiliale": situation,
        "telPortable": draw_phone(rng, rng.choice(("06", "07"))),
        "mel": mail if rng.random() < 0.8 else None,
        "notifSms": rng.random() < 0.7,
        "notifEvt": rng.random() < 0.5,
        "adressePostale": adresse,
        "situationProfessionnelle": draw_situation_pro(demandeur, residence, postal),
        "revenuFiscal": draw_revenu_fiscal(rng, demandeur, created.year),
        "listeRessourceRecue": demandeur.ressources,
        "listeRessourceVersee": [],
        "listeRessourceRecuePersACharge": [],
        "listeRessourceVerseePersACharge": [],
    }
    if situation in ("D", "S") and civilite == "1" and rng.random() < 0.3:
        pp_demandeur["listeRessourceVersee"] = [
            {"ressource": "PAV", "montant": rng.randrange(100, 350)}
        ]
    personne: Event = {"demandeur": pp_demandeur}

    if adults == 2:
        co_civ = "2" if civilite == "1" else ("1" if rng.random() < 0.95 else "2")
        co_age = max(18, age + rng.randint(-6, 6))
        married = situation == "M"
        co_nom = nom if married else rng.choice(NOMS)
        co = draw_person(rng, created, co_age, co_civ, co_nom, kids)
        cotitulaire: Event = {
            "civilite": co_civ,
            "nom": co_nom,
            "prenom": co.prenom,
            "dateNaissance": co.naissance.isoformat(),
            "nationalite": nationalite if rng.random() < 0.8 else "1",
            "situationFamiliale": situation,
            "lienDemandeur": "M",  # conjoint
            "situationProfessionnelle": draw_situation_pro(co, residence, postal),
            "revenuFiscal": draw_revenu_fiscal(rng, co, created.year),
            "listeRessourceRecue": co.ressources,
            "listeRessourceVersee": [],
        }
        if married and co_civ == "2" and rng.random() < 0.7:
            cotitulaire["nomPatronymique"] = rng.choice(NOMS)
        personne["listeCotitulaire"] = [cotitulaire]
    if kids:
        oldest = max(0, min(age - 19, 24))  # parents are at least 19 at first birth
        personne["listePersonneACharge"] = [
            draw_child(rng, nom, birth_date(rng, created, rng.randint(0, oldest)))
            for _ in range(kids)
        ]
    if age < 42 and (adults == 2 or civilite == "2") and rng.random() < 0.05:
        personne["personneANaitre"] = {
            "nombre": 1,
            "dateNaissancePrevue": (created + timedelta(days=rng.randint(30, 240))).isoformat(),
        }

    size = adults + kids
    typologies = draw_typologies(rng, adults, kids, age)
    personne["logementActuel"] = draw_logement_actuel(
        rng, logement, size, created, residence, postal, dep
    )

    motifs = draw_motifs(rng, logement, situation, kids, age, handicap)
    principaux: Event = {"motifDemande": motifs}
    if "05" in motifs or "11" in motifs:
        principaux["compDateJugement"] = (
            created - timedelta(days=rng.randint(15, 500))
        ).isoformat()
    if "23" in motifs:
        principaux["compAutreMotif"] = rng.choice(
            ("Rapprochement de l'école", "Logement trop bruyant", "Besoin d'un extérieur")
        )

    territory = territory_prefix(dep)
    mmyy = f"{created.month:02d}{created.year % 100:02d}"
    guichets = guichets_of(dep)
    guichet = rng.choices(guichets, weights=(40, 20, 12, 10, 8, 5, 3, 2))[0]
    num = f"{territory}{mmyy}{numbering.next(territory, mmyy):06d}{guichet}"

    recherche: Event = {
        "categorieLogementRecherche": weighted_pick(rng, [("A", 70), ("M", 5), ("I", 25)]),
        "demandeElargie": rng.random() < 0.2,
        "listeTypeLogement": typologies,
        "listeLocalisationSouhaite": [{"commune": c, "quartier": None} for c in communes],
    }
    if rng.random() < 0.4:
        recherche["montantLoyer"] = rng.randrange(300, 850, 10)
    if rng.random() < 0.2:
        recherche["avecParking"] = True

    demande_logement: Event = {
        "numGuichet": guichet,
        "numUnique": num,
        "dateCreationDemande": created.isoformat(),
        "precision": "",
        "logementRecherche": recherche,
        "principauxMotifDemande": principaux,
        "personnePhysique": personne,
        "listeHandicap": None,
        "renouvellement": None,
        "radiation": None,
    }
    if handicap:
        moteur = rng.random() < 0.6
        demande_logement["listeHandicap"] = [
            {
                "dateNaissance": demandeur.naissance.isoformat(),
                "handicapMoteur": moteur,
                "handicapSensoriel": not moteur and rng.random() < 0.5,
                "handicapAutre": not moteur and rng.random() < 0.5,
                "accompagne": rng.random() < 0.4,
                "besoinParticulier": rng.choice(BESOINS_HANDICAP),
            }
        ]
        if moteur:
            recherche["rezDeChaussee"] = True

    dalo: Event | None = None
    if rng.random() < 0.03:
        dalo = {
            "statutDalo": "ACTIF",
            "dateDecisionDalo": (created - timedelta(days=rng.randint(0, 180))).isoformat(),
            "diagnosticSocialDalo": rng.random() < 0.5,
            "accompagnementSocialDalo": rng.random() < 0.3,
            "typologieLogementDalo": typologies[0],
        }
    demande: Event = {"informationDalo": dalo, "demandeLogement": demande_logement}
    event = new_event(rng, num, "CRE", at, demande, [])
    # own generator (str seeds hash with SHA-512: stable across processes), so the draws
    # above — hence every other field — do not depend on the documents
    prng = random.Random(f"pieces-{event['eventId']}")
    demande["piecesJustificatives"] = draw_pieces(
        prng, created, nationalite, adults, kids, handicap, motifs, "compDateJugement" in principaux
    )
    return event
