"""The cotation clock misses no change (hypothesis): for random households of the
Métropole (applicant's and members' birth dates, children, motives, resources,
creation date), the score under the Rouen grid — the pure engine, the rule of record —
is the same on every day between two consecutive days ``Scoring.next_change`` gives:
the clock's candidate days hold every day time alone changes the detail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.cotation import Scoring
from hub.domain.cotation import SeuilsQuartiles, score, shipped_grids

METROPOLE = "200023414"
SEUILS = SeuilsQuartiles(600, 1000)
SCORING = Scoring(seuils=lambda epci: SEUILS)

days = st.dates(dt.date(1940, 1, 1), dt.date(2030, 12, 31))
maybe_days = st.one_of(st.none(), days)


@st.composite
def snapshots(draw: Any) -> dict[str, Any]:
    person = {
        "demandeur": {
            "dateNaissance": (lambda d: d and d.isoformat())(draw(maybe_days)),
            "listeRessourceRecue": [{"ressource": "SAL", "montant": draw(st.integers(0, 3000))}],
        },
        "listePersonneACharge": [{"dateNaissance": (lambda d: d and d.isoformat())(d)}
                                 for d in draw(st.lists(maybe_days, max_size=3))],
        "listeCotitulaire": [{"dateNaissance": d.isoformat()}
                             for d in draw(st.lists(days, max_size=1))],
    }  # fmt: skip
    return {"informationDalo": None, "demandeLogement": {
        "dateCreationDemande": draw(st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 31)))
        .isoformat(),
        "logementRecherche": {"listeLocalisationSouhaite": [{"commune": "76212"}]},
        "principauxMotifDemande": {"motifDemande": draw(st.lists(
            st.sampled_from(["03", "13", "11", "04"]), max_size=3, unique=True))},
        "personnePhysique": person}}  # fmt: skip


def _detail(snapshot: dict[str, Any], day: dt.date) -> tuple[Any, ...]:
    grid = shipped_grids().en_vigueur(METROPOLE, day)
    assert grid is not None
    s = score(snapshot, grid, {}, day, SEUILS)
    return s.total, tuple((d.code, d.statut) for d in s.detail)


@settings(max_examples=60, deadline=None)
@given(snapshots(), st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)))
def test_the_score_is_constant_between_candidate_days(snapshot: dict[str, Any],
                                                      start: dt.date) -> None:  # fmt: skip
    end = start + dt.timedelta(days=365 * 40)
    day = start
    for _ in range(200):  # a household has far fewer change days in 40 years
        nxt = SCORING.next_change(snapshot, day)
        last = min(nxt, end) if nxt is not None else end
        assert _detail(snapshot, day) == _detail(snapshot, last - dt.timedelta(days=1)), (
            f"a change between {day} and {last} the clock did not foresee"
        )
        if nxt is None or nxt >= end:
            return
        day = nxt
    raise AssertionError("more than 200 candidate days")
