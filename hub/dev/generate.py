"""Seeded generator of realistic social-housing demand events (fictitious persons).

Used by ``hub demo`` and by benchmarks. Contract:

* **Reproducible**: the same arguments (seed included) give the same events, in any process
  (one ``random.Random(seed)``, codes always iterated in sorted order, a fixed clock:
  ``until`` defaults to :data:`DEFAULT_UNTIL`, never "now").
* **Valid**: every event is a ``fr.passerelle.hub.DemandeEvent`` dict whose ``demande``
  follows the InterfaceNuu 02.01 snapshot naming (element names as in
  ``shared/domain/sne-interface/InterfaceNuu_v0201.txt``; coded values as plain strings;
  ISO dates; ``listeX`` wrappers as arrays of their items). Wished communes exist in the
  geography; numéros uniques are 18 characters ``DDDMMYYSSSSSSGGGGG`` and unique per call.
* **Realistic enough to exercise dispatching**: 1–8 wished communes drawn by population
  inside the EPCI of the first choice; typologies consistent with the household; ~30% of
  applicants already social tenants (current housing ``HLM``: a mutation); ~3% DALO.
* **Documents**: ~92% of demands carry a document index (hub extension
  ``piecesJustificatives``, codes of :mod:`hub.domain.pieces`) consistent with the household:
  identity, tax notice, co-holder, dependants, and the sensitive categories where the
  demand calls for them (disability complement, judgment or complaint for the motives,
  internal notes). Drawn from a generator seeded by the eventId, so adding them left the
  rest of every event unchanged.

Codes whose lists are not in the domain reference (``sexe`` M/F, ``lienParente`` E,
``lienDemandeur`` M, ``typeLogementActuel`` T1…) follow the SNE samples published with
betagouv's openfisca-demande-logement-social; coded fields whose values are unknown
(handicap natures, attribution details) are left empty rather than invented.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from hub.core.errors import InputError
from hub.dev.generate_pieces import draw_pieces
from hub.domain.geo import Geography

Event = dict[str, Any]

#: Default end of the generated period (fixed, so that output does not depend on the clock).
DEFAULT_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
#: Demands are created over the year before ``until`` (a demand lives 12 months).
WINDOW = timedelta(days=365)
VERSION_INTERFACE = "02.01"
SOURCE = "generator"
TYPOLOGIES = ("C", "T1", "T2", "T3", "T4", "T5", "T6P")

# Dotted paths (relative to the snapshot ``demande``) used in MOD events' changedFields.
F_COMMUNES = "demandeLogement.logementRecherche.listeLocalisationSouhaite"
F_TYPOLOGIES = "demandeLogement.logementRecherche.listeTypeLogement"
F_RESSOURCES = "demandeLogement.personnePhysique.demandeur.listeRessourceRecue"
F_TEL = "demandeLogement.personnePhysique.demandeur.telPortable"
F_RADIATION = "demandeLogement.radiation"

# --- small built-in lists (common names: the persons are fictitious) ------------------------

PRENOMS_F = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Sandrine", "Céline", "Aurélie",
    "Julie", "Émilie", "Camille", "Laura", "Sarah", "Manon", "Léa", "Chloé", "Inès", "Jade",
    "Fatima", "Aïcha", "Nadia", "Samira", "Karima", "Amina", "Mariama", "Awa", "Océane",
    "Mélanie", "Jessica", "Audrey", "Virginie", "Stéphanie", "Christine", "Monique", "Josiane",
    "Jacqueline", "Françoise", "Lina", "Yasmine", "Louise",
)  # fmt: skip
PRENOMS_M = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Patrick", "Nicolas", "Christophe",
    "Stéphane", "Sébastien", "Julien", "Thomas", "Kevin", "Anthony", "Maxime", "Lucas", "Hugo",
    "Nathan", "Enzo", "Mohamed", "Karim", "Rachid", "Mehdi", "Youssef", "Moussa", "Mamadou",
    "Ibrahim", "David", "Laurent", "Frédéric", "Olivier", "Thierry", "Bernard", "Gérard",
    "Didier", "Adam", "Noah", "Théo", "Léo", "Gabriel",
)  # fmt: skip
NOMS = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier",
    "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément",
    "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand",
    "Duval", "Denis", "Lemaire", "Lecomte", "Lemoine", "Leblanc", "Benali", "Traoré", "Diallo",
    "Haddad", "Nguyen", "Da Silva", "Ferreira", "Lebrun", "Leclerc", "Lecoq", "Hébert",
)  # fmt: skip
VOIES = (
    "rue de la République", "rue Victor Hugo", "avenue Jean Jaurès", "rue Pasteur",
    "boulevard Gambetta", "rue Jeanne d'Arc", "rue du Général Leclerc", "place du Marché",
    "rue des Lilas", "allée des Tilleuls", "rue de la Gare", "rue Gustave Flaubert",
    "avenue de Bretagne", "rue Jules Ferry", "rue Paul Éluard", "rue Émile Zola",
    "chemin des Prés", "rue du Moulin", "impasse des Érables", "rue Louis Pasteur",
    "rue Voltaire", "rue des Écoles", "avenue du 8 Mai 1945", "rue Pierre Corneille",
)  # fmt: skip
PROFESSIONS = (
    "Aide-soignant", "Agent d'entretien", "Employé de commerce", "Cariste", "Auxiliaire de vie",
    "Agent de sécurité", "Chauffeur livreur", "Serveur", "Préparateur de commandes",
    "Assistant maternel", "Ouvrier du bâtiment", "Secrétaire", "Agent administratif",
    "Cuisinier", "Technicien de maintenance", "Infirmier", "Vendeur", "Magasinier",
    "Agent de propreté", "Conducteur de bus",
)  # fmt: skip
#: social landlords named as current landlord of mutation applicants in Seine-Maritime
BAILLEURS_76 = (
    "Rouen Habitat", "Quevilly Habitat", "Habitat 76", "Logéal Immobilière", "Logiseine",
    "Immobilière Basse Seine", "Le Foyer Stéphanais", "CDC Habitat", "Logeo Seine", "Alcéane",
)  # fmt: skip
BESOINS_HANDICAP = (
    "Logement accessible en fauteuil", "Douche de plain-pied", "Ascenseur indispensable",
    "Rez-de-chaussée souhaité", "Proximité des transports",
)  # fmt: skip

#: current housing codes and their weights; HLM ~30% (applicants asking for a mutation)
LOGEMENT_ACTUEL = (
    ("HLM", 30), ("LP", 30), ("CPE", 12), ("CP", 8), ("SLHT", 4), ("LTG", 3), ("RS", 3),
    ("POCC", 3), ("RE", 2), ("HOT", 1), ("SH", 1), ("FONC", 1), ("RHVS", 1), ("SQUAT", 0.5),
    ("CAMCAR", 0.5),
)  # fmt: skip
_RENTED = frozenset({"HLM", "LP", "RS", "RHVS", "RE", "FONC"})
_HOSTED = frozenset({"CPE", "CP", "LTG"})
_NO_HOME = frozenset({"SH", "SQUAT", "CAMCAR", "HOT", "SLHT"})


# --- territory pools ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pool:
    """Codes with cumulative population weights, for O(log n) weighted draws."""

    codes: tuple[str, ...]
    cum: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.codes, cum_weights=self.cum)[0]


def _pool(geo: Geography, codes: Iterable[str]) -> _Pool:
    acc = 0.0
    out: list[str] = []
    cum: list[float] = []
    for code in sorted(codes):  # sorted: frozenset order varies with PYTHONHASHSEED
        acc += geo.population(code)
        out.append(code)
        cum.append(acc)
    return _Pool(tuple(out), tuple(cum))


@dataclass(slots=True)
class _Area:
    """The wishable communes of the requested territory, and per-EPCI sub-pools."""

    geo: Geography
    wishable: frozenset[str]
    pool: _Pool
    by_epci: dict[str, _Pool] = field(default_factory=dict)

    def epci_pool(self, code: str) -> _Pool:
        """Pool of the wishable communes of the EPCI of ``code`` (within the area)."""
        epci = self.geo.commune(code).epci
        if epci is None:
            return _Pool((code,), (1.0,))
        pool = self.by_epci.get(epci)
        if pool is None:
            members = self.geo.communes_of_epci(epci) & self.wishable
            pool = _pool(self.geo, members) if members else _Pool((code,), (1.0,))
            self.by_epci[epci] = pool
        return pool


@lru_cache(maxsize=128)
def _area(geo: Geography, departements: tuple[str, ...] | None, epci: str | None) -> _Area:
    if epci is not None:
        if not geo.epci_exists(epci):
            raise InputError(f"unknown EPCI SIREN {epci!r}")
        codes = geo.communes_of_epci(epci)
        if departements:
            codes = codes & frozenset().union(
                *(geo.communes_of_departement(d) for d in departements)
            )
    elif departements:
        unknown = [d for d in departements if not geo.departement_exists(d)]
        if unknown:
            raise InputError(f"unknown département(s) {', '.join(unknown)}")
        codes = frozenset().union(*(geo.communes_of_departement(d) for d in departements))
    else:
        codes = geo.communes()
    # Wishable: places with a population, i.e. current communes and arrondissements (the
    # déléguées have none). A city split in arrondissements is wished by arrondissement.
    populated = [c for c in codes if geo.population(c) > 0]
    split = {geo.commune(c).parent for c in populated if geo.commune(c).parent}
    wishable = frozenset(c for c in populated if c not in split)
    if not wishable:
        raise InputError("no inhabited commune in the requested territory")
    return _Area(geo, wishable, _pool(geo, wishable))


# --- helpers --------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in norm.lower() if ch.isalnum())


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _birth(rng: random.Random, on: date, age: int) -> date:
    return on - timedelta(days=age * 365 + rng.randrange(365))


def _territory(departement: str) -> str:
    """The 3-character territory prefix of a numéro unique: the département on 3 characters."""
    return departement.rjust(3, "0")  # "76" -> "076", "2A" -> "02A", "974" -> "974"


@lru_cache(maxsize=256)
def _guichets(departement: str) -> tuple[str, ...]:
    # A territory's registering offices do not depend on the seed: derive them from the
    # département (str seeds are hashed with SHA-512, stable across processes).
    rng = random.Random(f"guichets-{departement}")
    return tuple(f"{rng.randrange(10000, 100000)}" for _ in range(8))


def _phone(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.randrange(100_000_000):08d}"


def _clone(obj: Any) -> Any:
    """Deep copy of JSON-like data, several times faster than ``copy.deepcopy``."""
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    return obj


def _new_event(rng: random.Random, num: str, op: str, at: datetime, demande: Event | None,
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


# --- household --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Person:
    civilite: str  # "1" M., "2" Mme
    prenom: str
    nom: str
    naissance: date
    contrat: str
    ressources: list[dict[str, Any]]
    profession: str | None


def _person(rng: random.Random, on: date, age: int, civilite: str, nom: str,
            household_kids: int) -> _Person:  # fmt: skip
    prenom = rng.choice(PRENOMS_M if civilite == "1" else PRENOMS_F)
    if age >= 63:
        contrat = "RET"
    elif age < 25:
        contrat = _weighted(rng, [("ETU", 25), ("APP", 15), ("CDD", 30), ("CHO", 15), ("AUT", 15)])
    else:
        contrat = _weighted(rng, [("CDI", 40), ("CDD", 15), ("CHO", 15), ("ART", 4), ("AUT", 26)])
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
    return _Person(civilite, prenom, nom, _birth(rng, on, age), contrat, ressources, profession)


def _child(rng: random.Random, nom: str, naissance: date) -> Event:
    sexe = rng.choice(("M", "F"))
    return {
        "nom": nom[:24],
        "prenom": rng.choice(PRENOMS_M if sexe == "M" else PRENOMS_F),
        "dateNaissance": naissance.isoformat(),
        "sexe": sexe,
        "lienParente": "E",  # enfant
    }


def _situation_pro(p: _Person, commune: str, postal: str) -> Event:
    sp: Event = {"typeContratTravail": p.contrat}
    if p.profession is not None:
        sp.update(profession=p.profession, etranger=False, codePostal=postal, commune=commune)
    return sp


def _revenu_fiscal(rng: random.Random, p: _Person, year: int) -> Event:
    taxable = sum(r["montant"] for r in p.ressources if r["ressource"] in ("SAL", "CHO", "RET"))
    rfr = int(taxable * 12 * 0.9)  # the 10% allowance on wages and pensions
    return {
        "anneeMoins1": year - 1,
        "montantMoins1": rfr,
        "anneeMoins2": year - 2,
        "montantMoins2": int(rfr * rng.uniform(0.8, 1.1)),
    }


def _typologies(rng: random.Random, adults: int, kids: int, age: int) -> list[str]:
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


def _motifs(rng: random.Random, logement: str, situation: str, kids: int, age: int,
            handicap: bool) -> list[str]:  # fmt: skip
    w: dict[str, float] = {"09": 3, "23": 1, "19": 2, "20": 1, "21": 1}
    if logement == "HLM":
        w.update({"13": 6 if kids else 1, "10": 4 if age > 60 else 0.5, "17": 2, "08": 1})
    elif logement == "LP":
        w.update({"09": 8, "03": 2, "04": 2, "13": 4 if kids else 1, "05": 1})
    elif logement == "CPE":
        w.update({"12": 12})
    elif logement in _HOSTED or logement in _NO_HOME or logement == "RS":
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


# --- public API ---------------------------------------------------------------------------------


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
    area = _area(geography, tuple(sorted(departements)) if departements else None, epci)
    rng = random.Random(seed)
    numbering = _Numbering(rng)
    end = until or DEFAULT_UNTIL
    start = end - WINDOW
    step = WINDOW / max(n, 1)
    for i in range(n):
        at = start + step * (i + rng.random())  # strictly increasing: events in time order
        yield _demande_event(rng, area, numbering, at)


def _logement_actuel(rng: random.Random, logement: str, size: int, created: date,
                     residence: str, postal: str, dep: str) -> Event:  # fmt: skip
    """The current housing: its model code, household count, and the complements the
    model calls for (landlord and date for HLM, structure for SLHT, typology if owned)."""
    current = TYPOLOGIES[min(6, max(1, size - 1 + rng.choice((-1, 0, 0, 1))))]
    actuel: Event = {
        "listeModeleLogement": [logement],
        "nombreHabitant": size + (rng.randint(1, 3) if logement in _HOSTED else 0),
        "proprietaire": logement == "POCC",
        "etranger": False,
        "codePostal": postal,
        "commune": residence,
    }
    if logement in _RENTED or logement == "POCC":
        actuel["categorieLogement"] = "A" if rng.random() < 0.8 else "M"
        actuel["typeLogementActuel"] = current
        actuel["surface"] = 18 + 14 * TYPOLOGIES.index(current) + rng.randint(-5, 10)
    if logement in _RENTED:
        rent = 180 + 90 * TYPOLOGIES.index(current) + rng.randint(0, 250)
        if logement == "LP":
            rent = rent * 8 // 5  # private rents run well above social ones
        elif logement in ("RS", "RHVS", "RE"):
            rent //= 2  # furnished rooms with services
        actuel["montantMensuelLoyer"] = rent
        actuel["montantMensuelAPL"] = rng.randint(0, rent // 2)
    if logement == "HLM":
        actuel["compResSocDepuis"] = _birth(rng, created, rng.randint(1, 20)).isoformat()
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


def _draw_wishes(rng: random.Random, area: _Area) -> tuple[list[str], _Pool]:
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


def _demande_event(rng: random.Random, area: _Area, numbering: _Numbering, at: datetime) -> Event:
    geo = area.geo
    created = at.date()

    communes, local = _draw_wishes(rng, area)
    first = communes[0]
    dep = geo.commune(first).departement

    # household
    kind = _weighted(rng, [("seul", 45), ("mono", 22), ("couple", 10), ("famille", 23)])
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
        situation = _weighted(rng, [("M", 45), ("P", 20), ("U", 35)])
    elif age >= 65 and rng.random() < 0.4:
        situation = "V"
    else:
        situation = _weighted(rng, [("C", 60), ("D", 22), ("S", 18)] if kind == "seul" or age > 30
                              else [("C", 85), ("S", 15)])  # fmt: skip
    nationalite = _weighted(rng, [("1", 84), ("2", 5), ("3", 11)])
    nom = rng.choice(NOMS)
    handicap = rng.random() < 0.06
    demandeur = _person(rng, created, age, civilite, nom, kids)
    seniors = [(c, w) for c, w in LOGEMENT_ACTUEL if c not in ("RE", "CPE")]
    logement = _weighted(rng, LOGEMENT_ACTUEL if age < 63 else seniors)
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

    mail = f"{_ascii(demandeur.prenom)}.{_ascii(nom)}{rng.randint(1, 99)}@example.org"
    pp_demandeur: Event = {
        "civilite": civilite,
        "nom": nom,
        "prenom": demandeur.prenom,
        "dateNaissance": demandeur.naissance.isoformat(),
        "nationalite": nationalite,
        "situationFamiliale": situation,
        "telPortable": _phone(rng, rng.choice(("06", "07"))),
        "mel": mail if rng.random() < 0.8 else None,
        "notifSms": rng.random() < 0.7,
        "notifEvt": rng.random() < 0.5,
        "adressePostale": adresse,
        "situationProfessionnelle": _situation_pro(demandeur, residence, postal),
        "revenuFiscal": _revenu_fiscal(rng, demandeur, created.year),
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
        co = _person(rng, created, co_age, co_civ, co_nom, kids)
        cotitulaire: Event = {
            "civilite": co_civ,
            "nom": co_nom,
            "prenom": co.prenom,
            "dateNaissance": co.naissance.isoformat(),
            "nationalite": nationalite if rng.random() < 0.8 else "1",
            "situationFamiliale": situation,
            "lienDemandeur": "M",  # conjoint
            "situationProfessionnelle": _situation_pro(co, residence, postal),
            "revenuFiscal": _revenu_fiscal(rng, co, created.year),
            "listeRessourceRecue": co.ressources,
            "listeRessourceVersee": [],
        }
        if married and co_civ == "2" and rng.random() < 0.7:
            cotitulaire["nomPatronymique"] = rng.choice(NOMS)
        personne["listeCotitulaire"] = [cotitulaire]
    if kids:
        oldest = max(0, min(age - 19, 24))  # parents are at least 19 at first birth
        personne["listePersonneACharge"] = [
            _child(rng, nom, _birth(rng, created, rng.randint(0, oldest))) for _ in range(kids)
        ]
    if age < 42 and (adults == 2 or civilite == "2") and rng.random() < 0.05:
        personne["personneANaitre"] = {
            "nombre": 1,
            "dateNaissancePrevue": (created + timedelta(days=rng.randint(30, 240))).isoformat(),
        }

    size = adults + kids
    typologies = _typologies(rng, adults, kids, age)
    personne["logementActuel"] = _logement_actuel(
        rng, logement, size, created, residence, postal, dep
    )

    motifs = _motifs(rng, logement, situation, kids, age, handicap)
    principaux: Event = {"motifDemande": motifs}
    if "05" in motifs or "11" in motifs:
        principaux["compDateJugement"] = (
            created - timedelta(days=rng.randint(15, 500))
        ).isoformat()
    if "23" in motifs:
        principaux["compAutreMotif"] = rng.choice(
            ("Rapprochement de l'école", "Logement trop bruyant", "Besoin d'un extérieur")
        )

    territory = _territory(dep)
    mmyy = f"{created.month:02d}{created.year % 100:02d}"
    guichets = _guichets(dep)
    guichet = rng.choices(guichets, weights=(40, 20, 12, 10, 8, 5, 3, 2))[0]
    num = f"{territory}{mmyy}{numbering.next(territory, mmyy):06d}{guichet}"

    recherche: Event = {
        "categorieLogementRecherche": _weighted(rng, [("A", 70), ("M", 5), ("I", 25)]),
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
    event = _new_event(rng, num, "CRE", at, demande, [])
    # own generator (str seeds hash with SHA-512: stable across processes), so the draws
    # above — hence every other field — do not depend on the documents
    prng = random.Random(f"pieces-{event['eventId']}")
    demande["piecesJustificatives"] = draw_pieces(
        prng, created, nationalite, adults, kids, handicap, motifs, "compDateJugement" in principaux
    )
    return event


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
            demande = _clone(demande)
            changed = _modify(rng, geography, demande)
            out.append(_new_event(rng, created["numUnique"], "MOD", at, demande, changed))
        if rng.random() < radiation_rate:
            at += timedelta(days=rng.randint(1, 120), seconds=rng.randrange(86400))
            demande = _clone(demande)
            motif = _weighted(
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
            out.append(_new_event(rng, created["numUnique"], "RAD", at, demande, [F_RADIATION]))
    out.sort(key=lambda e: e["occurredAt"])  # stable: a demand's events keep their order
    return out


def _modify(rng: random.Random, geo: Geography, demande: Event) -> list[str]:
    """Apply one random change to ``demande`` in place; return the changed dotted paths."""
    dl = demande["demandeLogement"]
    recherche = dl["logementRecherche"]
    pp = dl["personnePhysique"]
    what = _weighted(rng, [("communes", 30), ("move", 5), ("typologies", 25),
                           ("ressources", 25), ("tel", 15)])  # fmt: skip
    if what in ("communes", "move"):
        wishes = [w["commune"] for w in recherche["listeLocalisationSouhaite"]]
        first = wishes[0]
        # the département's area: few distinct ones, so the lru cache keeps them all
        area = _area(geo, (geo.commune(first).departement,), None)
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
    pp["demandeur"]["telPortable"] = _phone(rng, rng.choice(("06", "07")))
    return [F_TEL]
