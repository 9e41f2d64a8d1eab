"""CAL decisions against CCH R441-3: each rule broken is refused and named."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hub.domain.cal_rules import (
    RULES,
    CALRuleError,
    Candidate,
    Decision,
    check_decision,
    check_response,
)
from hub.domain.gp.catalogue import SEED
from hub.domain.gp.validation import GPInput, validate_gp_event
from tests.support.demandes import new_num_unique

DAY = date(2025, 6, 10)


def ev(num: str, code: str, fields: dict[str, str], on: date = date(2025, 6, 1)) -> dict[str, Any]:
    return validate_gp_event(SEED, GPInput(num, code, on, fields), auteur="bailleur-x")


def designated(num: str, cal: str = "CAL1", logement: str = "L1", pref: bool = False,
               examined: bool = True) -> list[dict[str, Any]]:
    fields = {"CODECAL": cal, "LOGEMENT": logement}
    if pref:
        fields["DESIGPREF"] = "true"
    h = [ev(num, "DESIGCAL", fields)]
    if examined:
        h.append(ev(num, "EXAMCAL", {"CODECAL": cal, "DATECAL": DAY.isoformat()}, DAY))
    return h


def decision(*cands: Candidate, cal: str = "CAL1") -> Decision:
    return Decision("d1", cal, "L1", DAY, cands)


def three(first: str = "ATTR", **kw: Any) -> tuple[Decision, dict[str, list[dict[str, Any]]]]:
    nums = [new_num_unique() for _ in range(3)]
    d = decision(Candidate(nums[0], first, **kw), Candidate(nums[1], "ATTRRANG", rang=2),
                 Candidate(nums[2], "NONATTR", motif="ressources"))
    return d, {n: designated(n) for n in nums}


def rule_of(d: Decision, h: dict[str, list[dict[str, Any]]]) -> str:
    with pytest.raises(CALRuleError) as info:
        check_decision(d, h)
    assert info.value.rule in RULES and info.value.rule in info.value.message
    return info.value.rule


def test_a_valid_ranked_decision_passes() -> None:
    d, h = three()
    check_decision(d, h)


def test_fewer_than_three_candidates_refused_unless_prefect_designated() -> None:
    a, b = new_num_unique(), new_num_unique()
    d = decision(Candidate(a, "ATTR"), Candidate(b, "NONATTR", motif="x"))
    assert rule_of(d, {a: designated(a), b: designated(b)}) == "R441-3/trois-candidats"
    alone = decision(Candidate(a, "ATTR"))
    check_decision(alone, {a: designated(a, pref=True)})
    dalo = [*designated(a), ev(a, "PRIORITE", {"TYPEPRIO": "DALO"})]
    check_decision(alone, {a: dalo})


def test_decision_needs_designation_and_examination_by_that_cal() -> None:
    d, h = three()
    other = d.candidates[1].num_unique
    h[other] = designated(other, cal="CAL2")
    assert rule_of(d, h) == "R441-3/designation"
    h[other] = designated(other, examined=False)
    assert rule_of(d, h) == "R441-3/examen"
    elsewhere = ev(other, "EXAMCAL", {"CODECAL": "CAL2", "DATECAL": "2025-06-10"}, DAY)
    h[other] = [*designated(other)[:1], elsewhere]
    assert rule_of(d, h) == "R441-3/examen"


@pytest.mark.parametrize(("first", "kw", "rule"), [
    ("ATTR", {"rang": 2}, "R441-3/rang-1"),
    ("ATTRCOND", {"piece_manquante": "JUSTDOM", "date_limite": date(2025, 7, 1)},
     "R441-3/condition-suspensive"),
    ("ATTRCOND", {"piece_manquante": "IDENTITE"}, "R441-3/condition-suspensive"),
    ("ATTRCOND", {"piece_manquante": "AVISIMPOT", "date_limite": DAY},
     "R441-3/condition-suspensive"),
    ("ATTR", {"piece_manquante": "IDENTITE"}, "R441-3/condition-suspensive"),
    ("NONATTR", {}, "R441-3/non-attribution-motif"),
    ("IRREC", {"motif": "pas content"}, "R441-3/irrecevabilite-motif"),
])
def test_outcome_rules(first: str, kw: dict[str, Any], rule: str) -> None:
    d, h = three(first, **kw)
    assert rule_of(d, h) == rule


def test_condition_suspensive_with_identity_document_and_deadline_passes() -> None:
    d, h = three("ATTRCOND", piece_manquante="IDENTITE", date_limite=date(2025, 7, 1))
    check_decision(d, h)


def test_ranks_must_follow_rang_1_without_gaps_and_candidates_once() -> None:
    a, b, c = (new_num_unique() for _ in range(3))
    h = {n: designated(n) for n in (a, b, c)}
    gap = decision(Candidate(a, "ATTR"), Candidate(b, "ATTRRANG", rang=3),
                   Candidate(c, "NONATTR", motif="x"))
    assert rule_of(gap, h) == "R441-3/rangs"
    no_first = decision(Candidate(a, "NONATTR", motif="x"), Candidate(b, "ATTRRANG", rang=2),
                        Candidate(c, "NONATTR", motif="x"))
    assert rule_of(no_first, h) == "R441-3/rangs"
    two_first = decision(Candidate(a, "ATTR"), Candidate(b, "ATTR"), Candidate(c, "IRREC",
                                                                              motif="IRRSEJ"))
    assert rule_of(two_first, h) == "R441-3/rang-1"
    twice = decision(Candidate(a, "ATTR"), Candidate(a, "NONATTR", motif="x"),
                     Candidate(c, "NONATTR", motif="x"))
    assert rule_of(twice, h) == "R441-3/candidat-unique"


def test_applicant_answer_within_ten_days_once_with_reason_for_refusal() -> None:
    a = new_num_unique()
    made = ev(a, "DECISCAL", {"CODECAL": "CAL1", "LOGEMENT": "L1", "DECISIONID": "d1",
                              "DECISION": "ATTR", "RANG": "1", "DATEDEC": "2025-06-10"}, DAY)
    h = [*designated(a), made]
    assert check_response(a, "d1", True, None, date(2025, 6, 20), h) == made
    with pytest.raises(CALRuleError, match="R441-3/reponse-delai"):
        check_response(a, "d1", True, None, date(2025, 6, 21), h)
    with pytest.raises(CALRuleError, match="R441-3/refus-motif"):
        check_response(a, "d1", False, " ", date(2025, 6, 12), h)
    with pytest.raises(CALRuleError, match="R441-3/reponse-decision"):
        check_response(a, "other", True, None, date(2025, 6, 12), h)
    answered = [*h, ev(a, "REFUSDEM", {"MOTIF": "loin", "DECISIONID": "d1"}, date(2025, 6, 12))]
    with pytest.raises(CALRuleError, match="R441-3/reponse-unique"):
        check_response(a, "d1", True, None, date(2025, 6, 13), answered)
