"""What the cotation reads from a demand snapshot (``fr.passerelle.sne.Demande`` as a dict,
the shape of a feed record's ``demande``), and the date arithmetic of its time criteria.

Contracts:

* Every reader takes the snapshot as it comes: a missing element, ``null`` or a value
  that is not an ISO date is *unknown* (``None``), never an error.
* Only fields every access profile receives are read (docs/profiles.md): the score must
  be the same whoever asks, so ``listeHandicap`` and the motives' free texts (sensitive,
  cut for most profiles) are not used.
* Ages and seniority are in completed years / months on the reference date ``at``; an
  anniversary falling on a day the month lacks (29 February, the 31st) is that month's
  last day (:func:`add_months`).
* The household: the applicant, the co-holders (``listeCotitulaire``), the dependants
  (``listePersonneACharge``) and the children in custody (``listePersonneEnGarde``,
  counted as minors only, not in consumption units). A person to be born is not counted.
* :func:`ressources_par_uc`: monthly resources (euros) of the household per consumption
  unit (INSEE's modified OECD scale: 1 for the applicant, 0.5 for each other person of 14
  or more, 0.3 under 14). A co-holder or dependant born after ``at`` (a person to be
  born) counts nothing until the birth day, then 0.3 — the person :func:`enfant_mineur`
  ignores until then too. Resources are the amounts received (``listeRessourceRecue`` of
  the applicant and of each co-holder, ``listeRessourceRecuePersACharge``) less those
  paid (the matching ``…Versee`` lists). Unknown when a co-holder's or dependant's birth
  date is missing or the demand has no natural person.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

Snapshot = Mapping[str, Any]
AGE_MAJORITE = 18
AGE_UC_ADULTE = 14


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` months; a day the target month lacks is its last day.
    Past the calendar's range: ``date.max`` (never reached) or ``date.min``."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def full_years(born: date, at: date) -> int:
    """Completed years from ``born`` to ``at`` (negative when ``at`` precedes ``born``)."""
    years = at.year - born.year
    while years > 0 and add_months(born, 12 * years) > at:
        years -= 1
    return years


def months_reached(start: date, months: int, at: date) -> bool:
    """Whether ``months`` months have passed from ``start`` on ``at``."""
    return add_months(start, months) <= at


def parse_date(value: Any) -> date | None:
    """The day of an ``xs:date`` (or ``xs:dateTime``) value, the XML whitespace around it
    ignored (``whiteSpace=collapse``); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip(" \t\r\n")[:10])
    except ValueError:
        return None


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def demande_logement(snapshot: Snapshot) -> Mapping[str, Any]:
    found = snapshot.get("demandeLogement")
    return found if isinstance(found, Mapping) else {}


def personne(snapshot: Snapshot) -> Mapping[str, Any] | None:
    """The natural person of the demand (``None`` for an association)."""
    found = demande_logement(snapshot).get("personnePhysique")
    return found if isinstance(found, Mapping) else None


def statut_dalo(snapshot: Snapshot) -> str | None:
    value = _get(snapshot, "informationDalo", "statutDalo")
    return value if isinstance(value, str) else None


def motifs(snapshot: Snapshot) -> frozenset[str]:
    found = _get(demande_logement(snapshot), "principauxMotifDemande", "motifDemande")
    return frozenset(m for m in _list(found) if isinstance(m, str))


def modeles_logement(snapshot: Snapshot) -> frozenset[str]:
    found = _get(personne(snapshot), "logementActuel", "listeModeleLogement")
    return frozenset(m for m in _list(found) if isinstance(m, str))


def contrat_demandeur(snapshot: Snapshot) -> str | None:
    value = _get(personne(snapshot), "demandeur", "situationProfessionnelle", "typeContratTravail")
    return value if isinstance(value, str) else None


def naissance_demandeur(snapshot: Snapshot) -> date | None:
    return parse_date(_get(personne(snapshot), "demandeur", "dateNaissance"))


def date_creation(snapshot: Snapshot) -> date | None:
    return parse_date(demande_logement(snapshot).get("dateCreationDemande"))


def _enfants(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    p = personne(snapshot)
    return [
        x
        for x in _list(_get(p, "listePersonneACharge")) + _list(_get(p, "listePersonneEnGarde"))
        if isinstance(x, Mapping)
    ]


def enfant_mineur(snapshot: Snapshot, at: date) -> bool | None:
    """Whether the household counts a minor on ``at``: ``True`` if one is known, ``None``
    if none is but a dependant's birth date is missing, else ``False``."""
    unknown = False
    for child in _enfants(snapshot):
        born = parse_date(child.get("dateNaissance"))
        if born is None:
            unknown = True
        elif born <= at and full_years(born, at) < AGE_MAJORITE:
            return True
    return None if unknown else False


def _montants(lists: Iterable[Any]) -> int:
    total = 0
    for items in lists:
        for item in _list(items):
            amount = _get(item, "montant")
            if isinstance(amount, int) and not isinstance(amount, bool):
                total += amount
    return total


def ressources_mensuelles(snapshot: Snapshot) -> int | None:
    """Monthly resources received less paid, of the whole household (euros)."""
    p = personne(snapshot)
    if p is None:
        return None
    d = _get(p, "demandeur")
    cotits = [c for c in _list(_get(p, "listeCotitulaire")) if isinstance(c, Mapping)]
    recues = [_get(d, "listeRessourceRecue"), _get(d, "listeRessourceRecuePersACharge")]
    versees = [_get(d, "listeRessourceVersee"), _get(d, "listeRessourceVerseePersACharge")]
    recues += [c.get("listeRessourceRecue") for c in cotits]
    versees += [c.get("listeRessourceVersee") for c in cotits]
    return _montants(recues) - _montants(versees)


def _dixiemes_uc(snapshot: Snapshot, at: date) -> int | None:
    """Consumption units in tenths (exact arithmetic: 1 unit = 10)."""
    p = personne(snapshot)
    if p is None:
        return None
    others = [c for c in _list(_get(p, "listeCotitulaire")) if isinstance(c, Mapping)]
    others += [x for x in _list(_get(p, "listePersonneACharge")) if isinstance(x, Mapping)]
    tenths = 10
    for person in others:
        born = parse_date(person.get("dateNaissance"))
        if born is None:
            return None
        if born > at:  # a person to be born counts from the birth day (module doc)
            continue
        tenths += 5 if full_years(born, at) >= AGE_UC_ADULTE else 3
    return tenths


def unites_consommation(snapshot: Snapshot, at: date) -> float | None:
    """Consumption units of the household on ``at`` (see the module doc)."""
    tenths = _dixiemes_uc(snapshot, at)
    return None if tenths is None else tenths / 10


def ressources_par_uc(snapshot: Snapshot, at: date) -> float | None:
    """Monthly resources per consumption unit (euros), or ``None`` when unknown."""
    resources, tenths = ressources_mensuelles(snapshot), _dixiemes_uc(snapshot, at)
    if resources is None or tenths is None:
        return None
    return resources * 10 / tenths
