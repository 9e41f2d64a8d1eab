"""The cotation clock around a household member's birth and 14th birthday (audit D, F2).

A dependant counts 0 consumption unit before the birth day, 0.3 from it, 0.5 from the
14th birthday: the resources per unit, hence ``RESSOURCES_Q1`` / ``RESSOURCES_Q2``, may
change on either day with no event. Walking every day of a window around both, the score
of each day must equal the score the clock holds — that of the last day
``Scoring.next_change`` scheduled (or the window's first): the score changes only on a
candidate day. Under the Métropole's grid a child's birth is a candidate anyway (its
``…_MINEUR_…`` criteria); under a grid with only the population criteria it is one
because of the units alone, and a co-holder's birth likewise."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.cotation import Scoring
from hub.domain.cotation import Grilles, SeuilsQuartiles, parse_grid, score
from hub.domain.cotation.grid import GRIDS_DIR

ROUEN = "200023414"
NAME = f"{ROUEN}-1.yaml"
DAY = dt.timedelta(days=1)
WINDOW = 20  # days either side of a birth and of a 14th birthday


def _grids(only_quartiles: bool) -> Grilles:
    raw = yaml.safe_load((GRIDS_DIR / NAME).read_text("utf-8"))
    if only_quartiles:
        raw["criteres"] = [c for c in raw["criteres"]
                           if c["regle"]["type"] == "quartile_ressources"]  # fmt: skip
    return Grilles([parse_grid(yaml.safe_dump(raw, allow_unicode=True), NAME)])


GRIDS = {"rouen": _grids(False), "quartiles only": _grids(True)}


def birthday(born: dt.date, years: int) -> dt.date:
    """29 February's anniversary in a common year is 28 February (docs/cotation.md)."""
    if (born.month, born.day) == (2, 29) and not calendar.isleap(born.year + years):
        return dt.date(born.year + years, 2, 28)
    return born.replace(year=born.year + years)


def _snap(resources: int, deps: list[dt.date], cotits: list[dt.date]) -> dict[str, Any]:
    return {"informationDalo": None, "demandeLogement": {
        "dateCreationDemande": "2015-01-15",
        "logementRecherche": {"listeLocalisationSouhaite": [{"commune": "76212"}]},
        "principauxMotifDemande": {"motifDemande": ["03"]},
        "personnePhysique": {
            "demandeur": {"dateNaissance": "1980-05-20",
                          "listeRessourceRecue": [{"ressource": "SAL", "montant": resources}]},
            "listePersonneACharge": [{"dateNaissance": d.isoformat()} for d in deps],
            "listeCotitulaire": [{"dateNaissance": d.isoformat()} for d in cotits]}}}  # fmt: skip


def _detail(grids: Grilles, snap: dict[str, Any], seuils: SeuilsQuartiles,
            day: dt.date) -> tuple[Any, ...]:  # fmt: skip
    grid = grids.en_vigueur(ROUEN, day)
    assert grid is not None
    s = score(snap, grid, {}, day, seuils)
    return s.total, tuple((d.code, d.statut) for d in s.detail)


def _walk(scoring: Scoring, snap: dict[str, Any], seuils: SeuilsQuartiles,
          around: dt.date) -> int:  # fmt: skip
    """Check every day of the window around ``around``; the changes seen."""
    start = around - DAY * WINDOW
    held = _detail(scoring.grids, snap, seuils, start)  # what the clock holds
    changes = 0
    for n in range(1, 2 * WINDOW + 1):
        day = start + DAY * n
        today = _detail(scoring.grids, snap, seuils, day)
        if scoring.next_change(snap, day - DAY) == day:  # the clock ticks: it re-scores
            changes += today != held
            held = today
        assert today == held, f"the score changed on {day}, a day the clock did not schedule"
    return changes


@settings(max_examples=40, deadline=None)
@given(grid=st.sampled_from(sorted(GRIDS)),
       born=st.dates(dt.date(1990, 1, 1), dt.date(2040, 12, 31)),
       other=st.one_of(st.none(), st.integers(-WINDOW, WINDOW)),
       resources=st.integers(0, 3000),
       q=st.tuples(st.integers(0, 3000), st.integers(0, 3000)).map(sorted))  # fmt: skip
def test_the_score_changes_only_on_candidate_days(
    grid: str, born: dt.date, other: int | None, resources: int, q: list[int]
) -> None:
    """A dependant born on ``born``; maybe a co-holder born a few days apart from it."""
    seuils = SeuilsQuartiles(q[0], q[1])
    cotits = [] if other is None else [born + DAY * other]
    snap = _snap(resources, [born], cotits)
    scoring = Scoring(grids=GRIDS[grid], seuils={ROUEN: seuils}.get)
    for around in (born, birthday(born, 14)):
        _walk(scoring, snap, seuils, around)


@pytest.mark.parametrize("grid", sorted(GRIDS))
@pytest.mark.parametrize("member", ["dependant", "co-holder"])
def test_a_birth_is_scheduled_and_changes_the_quartile(grid: str, member: str) -> None:
    """1,000 € alone: 1,000 per unit (Q2 with q1 = 900, q2 = 1,100); from the member's
    birth on 2026-01-10, 1,000 / 1.3 = 769 (Q1). With q1 = 700, 769 is Q2 and from the
    14th birthday (2040-01-10) 1,000 / 1.5 = 667 is Q1: each day is scheduled."""
    born = dt.date(2026, 1, 10)
    snap = _snap(1000, [born], []) if member == "dependant" else _snap(1000, [], [born])
    for seuils, around in ((SeuilsQuartiles(900, 1100), born),
                           (SeuilsQuartiles(700, 1100), dt.date(2040, 1, 10))):  # fmt: skip
        scoring = Scoring(grids=GRIDS[grid], seuils={ROUEN: seuils}.get)

        def quartiles(day: dt.date, seuils: SeuilsQuartiles = seuils) -> dict[str, str]:
            statuts = dict(_detail(GRIDS[grid], snap, seuils, day)[1])
            return {c: statuts[c] for c in ("RESSOURCES_Q1", "RESSOURCES_Q2")}

        assert quartiles(around - DAY) == {"RESSOURCES_Q1": "non_rempli",
                                           "RESSOURCES_Q2": "rempli"}  # fmt: skip
        assert quartiles(around) == {"RESSOURCES_Q1": "rempli", "RESSOURCES_Q2": "non_rempli"}
        assert scoring.next_change(snap, around - DAY) == around
        assert _walk(scoring, snap, seuils, around) >= 1
