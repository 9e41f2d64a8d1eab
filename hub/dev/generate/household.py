"""The household of a generated demand: persons, children, work, income, current housing,
wished typologies and motives."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hub.dev.generate.vocabulary import (
    BAILLEURS_76,
    HOSTED,
    NO_HOME,
    PRENOMS_F,
    PRENOMS_M,
    PROFESSIONS,
    RENTED,
    TYPOLOGIES,
    Event,
)


def ascii_key(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in norm.lower() if ch.isalnum())


def weighted_pick(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def birth_date(rng: random.Random, on: date, age: int) -> date:
    return on - timedelta(days=age * 365 + rng.randrange(365))


def draw_phone(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.randrange(100_000_000):08d}"


@dataclass(slots=True)
class _Person:
    civilite: str  # "1" M., "2" Mme
    prenom: str
    nom: str
    naissance: date
    contrat: str
    ressources: list[dict[str, Any]]
    profession: str | None


def draw_person(rng: random.Random, on: date, age: int, civilite: str, nom: str,
            household_kids: int) -> _Person:  # fmt: skip
    prenom = rng.choice(PRENOMS_M if civilite == "1" else PRENOMS_F)
    if age >= 63:
        contrat = "RET"
    elif age < 25:
        contrat = weighted_pick(
            rng, [("ETU", 25), ("APP", 15), ("CDD", 30), ("CHO", 15), ("AUT", 15)]
        )
    else:
        contrat = weighted_pick(
            rng, [("CDI", 40), ("CDD", 15), ("CHO", 15), ("ART", 4), ("AUT", 26)]
        )
    ressources: list[dict[str, Any]] = []
    if contrat in ("CDI", "CDD", "ART", "APP"):
        low, high = (500, 1100) if contrat == "APP" else (900, 2300)
        ressources.append({"ressource": "SAL", "montant": rng.randrange(low, high)})
    elif contrat == "CHO":
        ressources.append({"ressource": "CHO", "montant": rng.randrange(600, 1400)})
    elif contrat == "RET":
        ressources.append({"ressource": "RET", "montant": rng.randrange(650, 1700)})
        if rng.random() < 0.15:
            ressources.append({"ressource": "AMV", "montant": rng.randrange(100, 400)})
    elif contrat == "ETU":
        ressources.append({"ressource": "BE", "montant": rng.randrange(150, 600)})
    elif rng.random() < 0.8:  # AUT: mostly RSA
        ressources.append({"ressource": "RSA", "montant": 600 + 250 * household_kids})
    profession = rng.choice(PROFESSIONS) if contrat in ("CDI", "CDD", "ART", "APP") else None
    return _Person(civilite, prenom, nom, birth_date(rng, on, age), contrat, ressources, profession)


def draw_child(rng: random.Random, nom: str, naissance: date) -> Event:
    sexe = rng.choice(("M", "F"))
    return {
        "nom": nom[:24],
        "prenom": rng.choice(PRENOMS_M if sexe == "M" else PRENOMS_F),
        "dateNaissance": naissance.isoformat(),
        "sexe": sexe,
        "lienParente": "E",  # enfant
    }


def draw_situation_pro(p: _Person, commune: str, postal: str) -> Event:
    sp: Event = {"typeContratTravail": p.contrat}
    if p.profession is not None:
        sp.update(profession=p.profession, etranger=False, codePostal=postal, commune=commune)
    return sp


def draw_revenu_fiscal(rng: random.Random, p: _Person, year: int) -> Event:
    taxable = sum(r["montant"] for r in p.ressources if r["ressource"] in ("SAL", "CHO", "RET"))
    rfr = int(taxable * 12 * 0.9)  # the 10% allowance on wages and pensions
    return {
        "anneeMoins1": year - 1,
        "montantMoins1": rfr,
        "anneeMoins2": year - 2,
        "montantMoins2": int(rfr * rng.uniform(0.8, 1.1)),
    }


def draw_typologies(rng: random.Random, adults: int, kids: int, age: int) -> list[str]:
    """Wished typologies consistent with the household (1 person: C/T1/T2; couple: T2/T3;
    with children: T3..T6P around one room per two persons plus a living room)."""
    if kids == 0 and adults == 1:
        options = [(("T1", "T2"), 45), (("T2",), 25), (("T1",), 20),
                   (("C", "T1"), 10 if age < 30 else 2)]  # fmt: skip
    elif kids == 0:
        options = [(("T2", "T3"), 60), (("T2",), 25), (("T3",), 15)]
    else:
        ideal = min(6, max(3, (adults + kids + 4) // 2))  # index in TYPOLOGIES: 3 = T3
        options = [((TYPOLOGIES[ideal],), 40)]
        if ideal < 6:
            options.append(((TYPOLOGIES[ideal], TYPOLOGIES[ideal + 1]), 35))
        if ideal > 3:
            options.append(((TYPOLOGIES[ideal - 1], TYPOLOGIES[ideal]), 25))
    chosen = rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]
    return list(chosen)


def draw_motifs(rng: random.Random, logement: str, situation: str, kids: int, age: int,
            handicap: bool) -> list[str]:  # fmt: skip
    w: dict[str, float] = {"09": 3, "23": 1, "19": 2, "20": 1, "21": 1}
    if logement == "HLM":
        w.update({"13": 6 if kids else 1, "10": 4 if age > 60 else 0.5, "17": 2, "08": 1})
    elif logement == "LP":
        w.update({"09": 8, "03": 2, "04": 2, "13": 4 if kids else 1, "05": 1})
    elif logement == "CPE":
        w.update({"12": 12})
    elif logement in HOSTED or logement in NO_HOME or logement == "RS":
        w.update({"01": 12})
    elif logement == "POCC":
        w.update({"22": 6})
    if situation in ("D", "S"):
        w["11"] = 8
    if situation in ("M", "P") and age < 35:
        w["14"] = 3
    if handicap:
        w["07"] = 12
    if rng.random() < 0.01:
        w["06"] = 10  # domestic violence: rare, but priority criteria rely on it
    codes = sorted(w)
    first = rng.choices(codes, weights=[w[c] for c in codes])[0]
    out = [first]
    for _ in range(rng.choices((0, 1, 2), weights=(45, 35, 20))[0]):
        c = rng.choices(codes, weights=[w[c] for c in codes])[0]
        if c not in out:
            out.append(c)
    return out


def draw_logement_actuel(rng: random.Random, logement: str, size: int, created: date,
                     residence: str, postal: str, dep: str) -> Event:  # fmt: skip
    """The current housing: its model code, household count, and the complements the
    model calls for (landlord and date for HLM, structure for SLHT, typology if owned)."""
    current = TYPOLOGIES[min(6, max(1, size - 1 + rng.choice((-1, 0, 0, 1))))]
    actuel: Event = {
        "listeModeleLogement": [logement],
        "nombreHabitant": size + (rng.randint(1, 3) if logement in HOSTED else 0),
        "proprietaire": logement == "POCC",
        "etranger": False,
        "codePostal": postal,
        "commune": residence,
    }
    if logement in RENTED or logement == "POCC":
        actuel["categorieLogement"] = "A" if rng.random() < 0.8 else "M"
        actuel["typeLogementActuel"] = current
        actuel["surface"] = 18 + 14 * TYPOLOGIES.index(current) + rng.randint(-5, 10)
    if logement in RENTED:
        rent = 180 + 90 * TYPOLOGIES.index(current) + rng.randint(0, 250)
        if logement == "LP":
            rent = rent * 8 // 5  # private rents run well above social ones
        elif logement in ("RS", "RHVS", "RE"):
            rent //= 2  # furnished rooms with services
        actuel["montantMensuelLoyer"] = rent
        actuel["montantMensuelAPL"] = rng.randint(0, rent // 2)
    if logement == "HLM":
        actuel["compResSocDepuis"] = birth_date(rng, created, rng.randint(1, 20)).isoformat()
        if dep == "76":
            actuel["compNomOrgBailleur"] = rng.choice(BAILLEURS_76)
    elif logement == "HOT":
        actuel["compResHotDepuis"] = (created - timedelta(days=rng.randint(10, 400))).isoformat()
    elif logement == "SLHT":
        actuel["compStructDepuis"] = (created - timedelta(days=rng.randint(30, 700))).isoformat()
        actuel["compNomStructure"] = rng.choice(("CHRS", "Foyer", "Résidence ALT"))
    elif logement == "POCC":
        actuel["typeLogementPossede"] = current
    return actuel
