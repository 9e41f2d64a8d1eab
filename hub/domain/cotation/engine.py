"""The cotation of one demand under one grid: a pure function of the snapshot, the grid,
the partners' declarations, the reference date and the quartile thresholds.

Contracts of :func:`score`:

* Each criterion of the grid gets one :class:`DetailCritere`: ``rempli`` (its points
  awarded), ``non_rempli`` or ``indetermine`` (the data needed is missing: a birth date,
  the quartile thresholds …; no points). ``explication`` says why in a few words, never
  with personal data.
* ``total`` is the sum of the points awarded: always within ``[0, grid.maximum]``.
* A demand whose DALO status (``informationDalo/statutDalo``) is one of the grid's
  ``hors_cotation.statuts_dalo`` is *hors cotation*: ``total`` is exactly
  ``hors_cotation.points`` and ``hors_cotation`` is true; the detail is still given.
* A ``declaration`` criterion is met when the declaration in force for it (the latest
  one, passed in ``declarations`` by criterion code) says ``valeur=True``. Declarations
  of codes the grid does not have, or of computed criteria, are ignored: a declaration
  never overrides what the snapshot tells.
* Time criteria (seniority, age, minors) are evaluated on ``at``; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from hub.domain.cotation import faits
from hub.domain.cotation.faits import Snapshot
from hub.domain.cotation.grid import (
    Critere,
    Grille,
    RegleAge,
    RegleAnciennete,
    RegleContrat,
    RegleDeclaration,
    RegleLogementActuel,
    RegleMotif,
    RegleQuartile,
)
from hub.domain.cotation.quartiles import SeuilsQuartiles

Statut = Literal["rempli", "non_rempli", "indetermine"]


@dataclass(frozen=True, slots=True)
class Declaration:
    """A partner's declaration of a criterion, as of ``date``."""

    critere: str
    valeur: bool
    auteur: str
    date: date


@dataclass(frozen=True, slots=True)
class DetailCritere:
    code: str
    libelle: str
    categorie: Literal["legal", "local"]
    source: Literal["demande", "declaration"]
    statut: Statut
    points: int
    points_max: int
    explication: str
    declaration: Declaration | None = None


@dataclass(frozen=True, slots=True)
class Score:
    epci: str
    version: str
    at: date
    total: int
    hors_cotation: bool
    maximum: int
    detail: tuple[DetailCritere, ...]


Verdict = tuple[Statut, str]


def _yes(met: bool | None, yes: str, no: str, unknown: str) -> Verdict:
    if met is None:
        return "indetermine", unknown
    return ("rempli", yes) if met else ("non_rempli", no)


def _motif(rule: RegleMotif, snapshot: Snapshot, at: date) -> Verdict:
    named = sorted(faits.motifs(snapshot) & set(rule.codes))
    if not named:
        return "non_rempli", f"no motive among {', '.join(rule.codes)}"
    if not rule.avec_enfant_mineur:
        return "rempli", f"motive {named[0]}"
    return _yes(
        faits.enfant_mineur(snapshot, at),
        f"motive {named[0]} and a minor child",
        f"motive {named[0]} but no minor child",
        f"motive {named[0]}; a dependant's birth date is missing",
    )


def _logement(rule: RegleLogementActuel, snapshot: Snapshot) -> Verdict:
    named = sorted(faits.modeles_logement(snapshot) & set(rule.codes))
    if named:
        return "rempli", f"current housing {named[0]}"
    return "non_rempli", f"current housing not among {', '.join(rule.codes)}"


def _contrat(rule: RegleContrat, snapshot: Snapshot) -> Verdict:
    contract = faits.contrat_demandeur(snapshot)
    if contract is None:
        return "indetermine", "no contract type"
    return _yes(contract in rule.codes, f"contract {contract}", f"contract {contract}", "")


def _age(rule: RegleAge, snapshot: Snapshot, at: date) -> Verdict:
    born = faits.naissance_demandeur(snapshot)
    if born is None or born > at:
        return "indetermine", "no birth date of the applicant before the reference date"
    age = faits.full_years(born, at)
    met = (rule.moins_de is None or age < rule.moins_de) and (
        rule.au_moins is None or age >= rule.au_moins
    )
    return _yes(met, f"applicant aged {age}", f"applicant aged {age}", "")


def _anciennete(rule: RegleAnciennete, snapshot: Snapshot, at: date) -> Verdict:
    created = faits.date_creation(snapshot)
    if created is None:
        return "indetermine", "no dateCreationDemande"
    reached = faits.add_months(created, rule.mois)
    return _yes(
        reached <= at,
        f"{rule.mois} months reached on {reached.isoformat()}",
        f"{rule.mois} months reached on {reached.isoformat()}",
        "",
    )


def _quartile(
    rule: RegleQuartile, snapshot: Snapshot, at: date, seuils: SeuilsQuartiles | None
) -> Verdict:
    if seuils is None:
        return "indetermine", "quartile thresholds of the EPCI not available"
    value = faits.ressources_par_uc(snapshot, at)
    if value is None:
        return "indetermine", "resources per consumption unit unknown"
    quartile = seuils.quartile(value)
    return _yes(quartile == rule.quartile, f"quartile {quartile}", f"quartile {quartile}", "")


def _declared(declaration: Declaration | None) -> Verdict:
    if declaration is None:
        return "non_rempli", "not declared by a partner"
    word = "declared" if declaration.valeur else "declared not met"
    return (
        "rempli" if declaration.valeur else "non_rempli",
        f"{word} by {declaration.auteur} on {declaration.date.isoformat()}",
    )


def evaluate(
    critere: Critere,
    snapshot: Snapshot,
    declarations: Mapping[str, Declaration],
    at: date,
    seuils: SeuilsQuartiles | None,
) -> DetailCritere:
    """The detail of one criterion (see :func:`score`)."""
    rule = critere.regle
    declaration = None
    if isinstance(rule, RegleDeclaration):
        declaration = declarations.get(critere.code)
        statut, why = _declared(declaration)
    elif isinstance(rule, RegleMotif):
        statut, why = _motif(rule, snapshot, at)
    elif isinstance(rule, RegleLogementActuel):
        statut, why = _logement(rule, snapshot)
    elif isinstance(rule, RegleContrat):
        statut, why = _contrat(rule, snapshot)
    elif isinstance(rule, RegleAge):
        statut, why = _age(rule, snapshot, at)
    elif isinstance(rule, RegleAnciennete):
        statut, why = _anciennete(rule, snapshot, at)
    else:
        statut, why = _quartile(rule, snapshot, at, seuils)
    return DetailCritere(
        code=critere.code,
        libelle=critere.libelle,
        categorie=critere.categorie,
        source="declaration" if critere.declare else "demande",
        statut=statut,
        points=critere.points if statut == "rempli" else 0,
        points_max=critere.points,
        explication=why,
        declaration=declaration,
    )


def score(
    snapshot: Snapshot,
    grid: Grille,
    declarations: Mapping[str, Declaration],
    at: date,
    seuils: SeuilsQuartiles | None = None,
) -> Score:
    """The score of ``snapshot`` under ``grid`` on ``at`` (see the module doc)."""
    detail = tuple(evaluate(c, snapshot, declarations, at, seuils) for c in grid.criteres)
    dalo = faits.statut_dalo(snapshot)
    hors = dalo is not None and dalo in grid.hors_cotation.statuts_dalo
    total = grid.hors_cotation.points if hors else sum(d.points for d in detail)
    return Score(
        epci=grid.epci,
        version=grid.version,
        at=at,
        total=total,
        hors_cotation=hors,
        maximum=grid.maximum,
        detail=detail,
    )
