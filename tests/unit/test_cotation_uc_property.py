"""Consumption units of a household against the rule written out here (audit D, F2).

The rule (docs/cotation.md, "Population criteria"; faits' module doc): INSEE's modified
OECD scale — 1 for the applicant, 0.5 for each other person of 14 or more, 0.3 under 14;
co-holders and dependants counted, children in custody and persons to be born (birth
date after the reference date) not; a co-holder or dependant without a birth date makes
the value unknown. An anniversary on a day the month lacks (29 February) falls on that
month's last day. :func:`expected_tenths` computes it from the generated people without
``faits``' date arithmetic; hypothesis draws households whose birth dates sit before,
after and on the reference date, on and around 14th birthdays, on 29 February."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hub.domain.cotation import SeuilsQuartiles, faits, score, shipped_grids

ROUEN = "200023414"
DAY = dt.timedelta(days=1)
LEAP_DAYS = [dt.date(y, 2, 29) for y in range(1960, 2061) if calendar.isleap(y)]


def birthday(born: dt.date, years: int) -> dt.date:
    """``born``'s anniversary ``years`` later; 29 February is 28 February in a common year."""
    year = born.year + years
    if (born.month, born.day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return born.replace(year=year)


def expected_tenths(people: list[str | None], at: dt.date) -> int | None:
    """The household's units in tenths, from its co-holders' and dependants' birth dates."""
    tenths = 10  # the applicant
    for text in people:
        if text is None:
            return None
        born = dt.date.fromisoformat(text)
        if born > at:
            continue  # to be born: not a person of the household yet
        tenths += 5 if at >= birthday(born, 14) else 3
    return tenths


def _near(at: dt.date, draw: st.DrawFn) -> dt.date:
    """A birth date that makes ``at`` an interesting day for it."""
    shift = dt.timedelta(days=draw(st.integers(-3, 3)))
    kind = draw(st.sampled_from(["on", "after", "before", "14th", "29feb", "any"]))
    if kind == "on":
        return at
    if kind == "after":
        return at + DAY * draw(st.integers(1, 700))
    if kind == "before":
        return at - DAY * draw(st.integers(1, 700))
    if kind == "14th":  # born 14 years before `at`, give or take a few days
        return birthday(at, -14) + shift
    if kind == "29feb":
        return draw(st.sampled_from(LEAP_DAYS))
    return draw(st.dates(dt.date(1940, 1, 1), dt.date(2060, 12, 31)))


@st.composite
def households(draw: st.DrawFn) -> tuple[dict[str, Any], list[str | None], dt.date]:
    """(snapshot, the birth dates the units count, reference date)."""
    if draw(st.booleans()):
        at = draw(st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)))
    else:  # around a 29 February
        at = draw(st.sampled_from(LEAP_DAYS[10:])) + DAY * draw(st.integers(-2, 2))

    def person() -> str | None:
        return None if draw(st.integers(0, 30)) == 0 else _near(at, draw).isoformat()

    cotits = [person() for _ in range(draw(st.integers(0, 2)))]
    deps = [person() for _ in range(draw(st.integers(0, 4)))]
    custody = [_near(at, draw).isoformat() for _ in range(draw(st.integers(0, 2)))]
    snapshot = {"informationDalo": None, "demandeLogement": {
        "dateCreationDemande": "2015-01-15",
        "logementRecherche": {"listeLocalisationSouhaite": [{"commune": "76212"}]},
        "principauxMotifDemande": {"motifDemande": []},
        "personnePhysique": {
            "demandeur": {"dateNaissance": "1980-05-20",
                          "listeRessourceRecue": [{"ressource": "SAL", "montant": 1000}]},
            "listeCotitulaire": [{"dateNaissance": d} for d in cotits],
            "listePersonneACharge": [{"dateNaissance": d} for d in deps],
            "listePersonneEnGarde": [{"dateNaissance": d} for d in custody]}}}  # fmt: skip
    return snapshot, cotits + deps, at


@settings(max_examples=400, deadline=None)
@given(households())
def test_units_follow_the_scale(household: tuple[dict[str, Any], list[str | None], dt.date]
                                ) -> None:  # fmt: skip
    snapshot, people, at = household
    tenths = expected_tenths(people, at)
    assert faits.unites_consommation(snapshot, at) == (None if tenths is None else tenths / 10)
    assert faits.ressources_par_uc(snapshot, at) == (None if tenths is None
                                                     else 1000 * 10 / tenths)  # fmt: skip
    # a dependant under 18 counted in the units is a minor of the household, and one not
    # born yet is neither (the two readers agree on who is in the household)
    deps = snapshot["demandeLogement"]["personnePhysique"]["listePersonneACharge"]
    known = [dt.date.fromisoformat(d["dateNaissance"]) for d in deps if d["dateNaissance"]]
    if any(b <= at < birthday(b, 18) for b in known):
        assert faits.enfant_mineur(snapshot, at) is True


def _snap(child_born: str) -> dict[str, Any]:
    """Audit D's household: the applicant alone, 1,000 €, one dependant."""
    return {"informationDalo": None, "demandeLogement": {
        "dateCreationDemande": "2024-01-15",
        "logementRecherche": {"demandeElargie": False, "listeTypeLogement": ["T3"],
                              "listeLocalisationSouhaite": [{"commune": "76212"}]},
        "principauxMotifDemande": {"motifDemande": []},
        "personnePhysique": {
            "demandeur": {"dateNaissance": "1980-05-20", "situationFamiliale": "C",
                          "listeRessourceRecue": [{"ressource": "SAL", "montant": 1000}]},
            "listePersonneACharge": [{"dateNaissance": child_born}],
            "logementActuel": {"listeModeleLogement": ["LP"]}}}}  # fmt: skip


@given(st.integers(1, 5000))
@example(131)  # audit D: born 2026-01-10, scored on 2025-09-01
def test_an_unborn_dependant_is_no_unit(days_ahead: int) -> None:
    at = dt.date(2025, 9, 1)
    snap = _snap((at + DAY * days_ahead).isoformat())
    assert faits.enfant_mineur(snap, at) is False
    assert faits.unites_consommation(snap, at) == 1.0


def test_audit_example_scores_the_second_quartile() -> None:
    """1,000 € for 1 unit (the child born 2026-01-10 not counted on 2025-09-01): above
    q1 = 900, not above q2 = 1,100 → RESSOURCES_Q2 (20), not Q1 (40); from the birth
    day 1,000 / 1.3 = 769 € → Q1."""
    at, born = dt.date(2025, 9, 1), dt.date(2026, 1, 10)
    grid = shipped_grids().en_vigueur(ROUEN, at)
    assert grid is not None
    seuils = SeuilsQuartiles(900, 1100)

    def quartiles(day: dt.date) -> dict[str, str]:
        s = score(_snap(born.isoformat()), grid, {}, day, seuils)
        return {d.code: d.statut for d in s.detail if d.code.startswith("RESSOURCES")}

    q2 = {"RESSOURCES_Q1": "non_rempli", "RESSOURCES_Q2": "rempli"}
    q1 = {"RESSOURCES_Q1": "rempli", "RESSOURCES_Q2": "non_rempli"}
    assert quartiles(at) == quartiles(born - DAY) == q2
    assert quartiles(born) == q1
