"""The cotation engine on the shipped Métropole Rouen Normandie grid: hand-worked demands
scored exactly (criterion by criterion), DALO hors cotation, the time criteria around
their thresholds, the quartile thresholds, and a property test over random snapshots."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.errors import InputError
from hub.domain.cotation import (
    Declaration,
    Grille,
    Score,
    SeuilsQuartiles,
    score,
    seuils_quartiles,
    shipped_grids,
)
from hub.domain.cotation.faits import add_months, full_years

ROUEN = "200023414"
SEUILS = SeuilsQuartiles(q1=900.0, q2=1200.0)


def rouen() -> Grille:
    grid = shipped_grids().en_vigueur(ROUEN, date(2026, 1, 1))
    assert grid is not None
    return grid


def snapshot(*, created: str = "2025-01-10", born: str | None = "1980-06-15",
             motifs: list[str] | None = None, logement: list[str] | None = None,
             contrat: str | None = "CDI", enfants: list[str | None] | None = None,
             cotitulaires: list[str] | None = None, recues: list[int] | None = None,
             versees: list[int] | None = None, dalo: str | None = None) -> dict[str, Any]:
    """A ``fr.passerelle.sne.Demande`` dict with what the cotation reads."""
    demandeur = {
        "dateNaissance": born,
        "situationProfessionnelle": {"typeContratTravail": contrat},
        "listeRessourceRecue": [{"ressource": "SAL", "montant": m}
                                for m in ([2000] if recues is None else recues)],
        "listeRessourceVersee": [{"ressource": "PAV", "montant": m} for m in versees or []],
    }
    return {
        "informationDalo": {"statutDalo": dalo} if dalo else None,
        "demandeLogement": {
            "dateCreationDemande": created,
            "principauxMotifDemande": {"motifDemande": motifs or ["23"]},
            "personnePhysique": {
                "demandeur": demandeur,
                "listePersonneACharge": [{"dateNaissance": b} for b in enfants or []],
                "listeCotitulaire": [{"dateNaissance": b, "listeRessourceRecue": []}
                                     for b in cotitulaires or []],
                "logementActuel": {"listeModeleLogement": logement or ["LP"]},
            },
        },
    }


def met(result: Score) -> dict[str, int]:
    return {d.code: d.points for d in result.detail if d.statut == "rempli"}


def test_the_shipped_grid_is_the_reference_grid() -> None:
    grid = rouen()
    legal = [c.points for c in grid.criteres if c.categorie == "legal"]
    local = [c.points for c in grid.criteres if c.categorie == "local"]
    assert (legal, local) == ([40] * 16, [20] * 11)
    assert grid.hors_cotation.points == 1000 and grid.maximum == 860


def test_docs_example_family_in_indecent_housing() -> None:
    """docs/cotation.md's worked example (also checked against the page itself in
    test_cotation_docs): 140 points, 180 once a partner declares REPRISE_ACTIVITE."""
    snap = snapshot(created="2024-01-15", born="1997-05-20", motifs=["03", "11"],
                    logement=["LP"], contrat="CDD", enfants=["2015-03-10"],
                    recues=[1200, 150])
    at = date(2025, 9, 1)
    result = score(snap, rouen(), {}, at, SEUILS)
    assert met(result) == {"MINEUR_LOGEMENT_INDECENT": 40, "ANCIENNETE_18_MOIS": 20,
                           "RESSOURCES_Q2": 20, "DIVORCE_SEPARATION": 20,
                           "MOINS_30_ANS": 20, "EMPLOI_PRECAIRE": 20}
    assert (result.total, result.hors_cotation) == (140, False)
    declared = {"REPRISE_ACTIVITE": Declaration("REPRISE_ACTIVITE", True, "rouen-habitat",
                                                date(2025, 8, 20))}
    after = score(snap, rouen(), declared, at, SEUILS)
    assert after.total == 180 and met(after)["REPRISE_ACTIVITE"] == 40
    withdrawn = {"REPRISE_ACTIVITE": Declaration("REPRISE_ACTIVITE", False, "rouen-habitat",
                                                 date(2025, 8, 21))}
    assert score(snap, rouen(), withdrawn, at, SEUILS).total == 140


def test_dalo_is_hors_cotation_at_exactly_1000() -> None:
    snap = snapshot(motifs=["05", "06"], dalo="ACTIF")
    result = score(snap, rouen(), {}, date(2025, 6, 1), SEUILS)
    assert (result.total, result.hors_cotation) == (1000, True)
    assert met(result) == {"MENACE_EXPULSION": 40, "VIOLENCES_CONJUGALES": 40}
    lapsed = score(snapshot(motifs=["05", "06"], dalo="CADUC"), rouen(), {},
                   date(2025, 6, 1), SEUILS)
    assert (lapsed.total, lapsed.hors_cotation) == (80, False)


def test_age_threshold_of_60_counts_from_the_birthday() -> None:
    snap = snapshot(created="2025-03-01", born="1965-09-01", motifs=["07"], logement=["SD"],
                    contrat="RET")
    before = score(snap, rouen(), {}, date(2025, 8, 31), SEUILS)
    on = score(snap, rouen(), {}, date(2025, 9, 1), SEUILS)
    assert met(before) == {"SANS_LOGEMENT": 40, "HANDICAP": 40}
    assert met(on) == {"SANS_LOGEMENT": 40, "HANDICAP": 40, "PLUS_60_ANS": 20}
    assert (before.total, on.total) == (80, 100)


def test_18_months_of_seniority_at_a_month_end() -> None:
    """Created on 31 August: 18 months are reached on the last day of February."""
    snap = snapshot(created="2023-08-31", born="2001-01-05", motifs=["01"], logement=["CPE"],
                    contrat="ETU")
    before = score(snap, rouen(), {}, date(2025, 2, 27), SEUILS)
    on = score(snap, rouen(), {}, date(2025, 2, 28), SEUILS)
    assert met(before) == {"HEBERGE_TIERS": 40, "MOINS_30_ANS": 20, "ETUDIANT_APPRENTI": 20}
    assert on.total == before.total + 20 == 100


def test_quartile_criteria_follow_the_thresholds_given() -> None:
    """A couple with two children, one just 14: 1 + 0.5 + 0.5 + 0.3 = 2.3 units;
    2,150 - 80 = 2,070 €/month = 900 per unit, on the 1st quartile threshold; without
    thresholds both are indeterminate."""
    snap = snapshot(born="1985-01-01", cotitulaires=["1986-02-02"],
                    enfants=["2011-06-01", "2018-05-05"], recues=[2150], versees=[80])
    at = date(2025, 6, 1)
    assert met(score(snap, rouen(), {}, at, SEUILS)) == {"RESSOURCES_Q1": 40}
    assert met(score(snap, rouen(), {}, at, SeuilsQuartiles(800, 900))) == {
        "RESSOURCES_Q2": 20}
    unknown = score(snap, rouen(), {}, at, None)
    statuts = {d.code: d.statut for d in unknown.detail}
    assert statuts["RESSOURCES_Q1"] == statuts["RESSOURCES_Q2"] == "indetermine"
    assert unknown.total == 0


def test_missing_data_is_indeterminate_never_points() -> None:
    snap = snapshot(born=None, motifs=["13"], enfants=[None], contrat=None)
    result = score(snap, rouen(), {}, date(2025, 6, 1), SEUILS)
    statuts = {d.code: d.statut for d in result.detail}
    assert statuts["MINEUR_SUROCCUPATION"] == "indetermine"
    assert statuts["MOINS_30_ANS"] == statuts["ETUDIANT_APPRENTI"] == "indetermine"
    assert result.total == 0
    unborn = score(snapshot(born="2030-01-01"), rouen(), {}, date(2025, 6, 1), SEUILS)
    assert {d.code: d.statut for d in unborn.detail}["MOINS_30_ANS"] == "indetermine"
    association = {"demandeLogement": {"dateCreationDemande": "2020-01-01",
                                       "principauxMotifDemande": {"motifDemande": ["04"]}}}
    assert met(score(association, rouen(), {}, date(2025, 6, 1), SEUILS)) == {
        "REPRISE_VENTE_PROPRIETAIRE": 20, "ANCIENNETE_18_MOIS": 20}


def test_a_declaration_never_overrides_a_computed_criterion() -> None:
    declared = {"HANDICAP": Declaration("HANDICAP", True, "x", date(2025, 1, 1)),
                "UNKNOWN": Declaration("UNKNOWN", True, "x", date(2025, 1, 1))}
    assert score(snapshot(), rouen(), declared, date(2025, 6, 1), SEUILS).total == 0


def test_quartile_thresholds_are_nearest_rank_percentiles() -> None:
    assert seuils_quartiles([400.0, 100.0, 300.0, 200.0]) == SeuilsQuartiles(100.0, 200.0)
    assert seuils_quartiles(float(v) for v in range(1, 11)) == SeuilsQuartiles(3.0, 5.0)
    assert seuils_quartiles([7.5]) == SeuilsQuartiles(7.5, 7.5)
    with pytest.raises(InputError):
        seuils_quartiles([])
    with pytest.raises(InputError):
        seuils_quartiles([1.0, float("nan")])


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_quartile_thresholds_split_the_population(values: list[float]) -> None:
    s = seuils_quartiles(values)
    n = len(values)
    assert s.q1 <= s.q2
    assert 4 * sum(v <= s.q1 for v in values) >= n
    assert 2 * sum(v <= s.q2 for v in values) >= n
    assert 4 * sum(v < s.q1 for v in values) < n  # the smallest such value


def test_date_arithmetic() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 8, 31), 18) == date(2025, 2, 28)
    assert full_years(date(2000, 2, 29), date(2025, 2, 28)) == 25
    assert full_years(date(2000, 2, 29), date(2025, 2, 27)) == 24


_dates = st.dates(date(1920, 1, 1), date(2030, 12, 31)).map(date.isoformat)
_snapshots = st.builds(
    snapshot,
    created=_dates,
    born=st.one_of(st.none(), _dates),
    motifs=st.lists(st.sampled_from([f"{i:02d}" for i in range(1, 24)]), max_size=5),
    logement=st.lists(st.sampled_from(["HLM", "LP", "RS", "SD", "CPE", "SH", "POCC"]),
                      max_size=2),
    contrat=st.one_of(st.none(), st.sampled_from(["CDI", "CDD", "ETU", "APP", "RET"])),
    enfants=st.lists(st.one_of(st.none(), _dates), max_size=4),
    cotitulaires=st.lists(_dates, max_size=2),
    recues=st.lists(st.integers(-999_999, 999_999), max_size=3),
    versees=st.lists(st.integers(0, 999_999), max_size=2),
    dalo=st.one_of(st.none(), st.sampled_from(["NON", "ACTIF", "CADUC", "ACTREL"])),
)
_declared = [c.code for c in rouen().criteres if c.declare] + ["HANDICAP", "NOPE"]


@settings(max_examples=300, deadline=None)
@given(snap=_snapshots, at=st.dates(date(2000, 1, 1), date(2040, 1, 1)),
       declared=st.dictionaries(st.sampled_from(_declared), st.booleans()),
       bounds=st.one_of(st.none(), st.tuples(st.floats(-1e5, 1e5), st.floats(0, 1e5))))
def test_score_is_within_the_grid_or_exactly_hors_cotation(
        snap: dict[str, Any], at: date, declared: dict[str, bool],
        bounds: tuple[float, float] | None) -> None:
    grid = rouen()
    seuils = None if bounds is None else SeuilsQuartiles(min(bounds[0], bounds[0] + bounds[1]),
                                                         bounds[0] + bounds[1])
    decls = {c: Declaration(c, v, "p", at - timedelta(days=1)) for c, v in declared.items()}
    result = score(snap, grid, decls, at, seuils)
    assert len(result.detail) == len(grid.criteres)
    if result.hors_cotation:
        assert result.total == grid.hors_cotation.points
    else:
        assert 0 <= result.total <= grid.maximum
        assert result.total == sum(d.points for d in result.detail)
    for d in result.detail:
        assert d.points == (d.points_max if d.statut == "rempli" else 0)
