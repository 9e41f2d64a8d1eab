"""Ranked CAL attributions and the answer window (audit N, N7): hub.domain.cal_rules and
hub.stores.cal.guard.check_cal_records.

Reference (domain README, §CAL decisions): "attribution with ranked candidates (rang 2, 3 …
take it if the previous refuses, without a new CAL) … The household has 10 days to accept
or refuse". So rang n's 10 days run from the day the dwelling passes to it (rang n-1's
refusal, or the end of rang n-1's 10 days); rang n may not accept before; one dwelling is
accepted once; an answer is dated neither before the decision nor after today.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.cal_rules import CALRuleError, check_response
from hub.stores.cal.guard import check_cal_records

X, Y, Z = "076022690000110691", "076022690000210691", "076022690000310691"
DECIDED = date(2026, 3, 1)
TODAY = date(2026, 6, 1)


def _deciscal(num: str, decision: str, rang: int, on: date = DECIDED) -> dict[str, Any]:
    return {"eventId": f"d-{num}", "numUnique": num, "codeTypeEvenement": "DECISCAL",
            "dateSurvenance": on.isoformat(), "auteur": "bailleur-1",
            "caracteristiques": {"DECISIONID": "DEC-1", "CODECAL": "CAL1", "LOGEMENT": "LOG1",
                                 "DATEDEC": on.isoformat(), "DECISION": decision,
                                 "RANG": str(rang)}}  # fmt: skip


def _answer(num: str, accept: bool, on: date) -> dict[str, Any]:
    fields = {"DECISIONID": "DEC-1", "LOGEMENT": "LOG1"}
    if not accept:
        fields["MOTIF"] = "trop loin"
    return {"eventId": f"a-{num}-{accept}-{on}", "numUnique": num, "auteur": "bailleur-1",
            "codeTypeEvenement": "ACCEPTDEM" if accept else "REFUSDEM",
            "dateSurvenance": on.isoformat(), "caracteristiques": fields}  # fmt: skip


DECISION = [_deciscal(X, "ATTR", 1), _deciscal(Y, "ATTRRANG", 2), _deciscal(Z, "ATTRRANG", 3)]


class Store:
    """Timelines and decision records, as GPStore answers them."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.events = [*DECISION, *answers]

    def timeline(self, num: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["numUnique"] == num]

    def decision_events(self, decision_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["codeTypeEvenement"] == "DECISCAL"
                and e["caracteristiques"]["DECISIONID"] == decision_id]  # fmt: skip

    def check(self, *records: dict[str, Any], today: date = TODAY) -> None:
        check_cal_records(list(records), self.timeline, self.decision_events, today=today)


def _rule(store: Store, *records: dict[str, Any], today: date = TODAY) -> str | None:
    try:
        store.check(*records, today=today)
    except CALRuleError as exc:
        return exc.rule
    return None


# -- the audit's cases -------------------------------------------------------------------


def test_rang_2_has_its_10_days_from_rang_1_s_refusal() -> None:
    """X (rang 1) refuses on day 9; Y (rang 2) accepts 5 days later (day 14): accepted."""
    store = Store(_answer(X, False, date(2026, 3, 10)))
    assert _rule(store, _answer(Y, True, date(2026, 3, 15))) is None
    # its 10 days from the refusal: day 10 after it in time, day 11 late
    assert _rule(store, _answer(Y, True, date(2026, 3, 20))) is None
    assert _rule(store, _answer(Y, True, date(2026, 3, 21))) == "R441-3/reponse-delai"


def test_rang_2_may_not_accept_before_rang_1_is_out() -> None:
    store = Store()
    assert _rule(store, _answer(Y, True, date(2026, 3, 3))) == "R441-3/reponse-rang"
    # rang 1 then accepts: the dwelling is its own
    store.events.append(_answer(X, True, date(2026, 3, 5)))
    assert _rule(Store(), _answer(X, True, date(2026, 3, 5))) is None
    assert _rule(store, _answer(Y, True, date(2026, 3, 12))) == "R441-3/acceptation-unique"


def test_never_two_acceptances_of_one_dwelling() -> None:
    """Rang 1 lets its window lapse, rang 2 accepts; rang 1's late acceptance is refused,
    and so is any other acceptance of the decision."""
    store = Store(_answer(Y, True, date(2026, 3, 12)))
    assert _rule(store, _answer(X, True, date(2026, 3, 11))) == "R441-3/acceptation-unique"
    assert _rule(store, _answer(Z, True, date(2026, 3, 13))) == "R441-3/acceptation-unique"
    # in one batch too
    assert _rule(Store(), _answer(Y, True, date(2026, 3, 12)),
                 _answer(X, True, date(2026, 3, 10))) == "R441-3/acceptation-unique"  # fmt: skip


def test_rang_1_s_window_lapsed_passes_the_dwelling_the_next_day() -> None:
    """Rang 1 may answer through day 10 (11 March); rang 2 has it from 12 March to 22."""
    store = Store()
    assert _rule(store, _answer(Y, True, date(2026, 3, 11))) == "R441-3/reponse-rang"
    assert _rule(store, _answer(Y, True, date(2026, 3, 12))) is None
    assert _rule(store, _answer(Y, True, date(2026, 3, 22))) is None
    assert _rule(store, _answer(Y, True, date(2026, 3, 23))) == "R441-3/reponse-delai"


def test_rang_3_waits_for_both() -> None:
    store = Store(_answer(X, False, date(2026, 3, 2)))
    assert _rule(store, _answer(Z, True, date(2026, 3, 5))) == "R441-3/reponse-rang"
    store.events.append(_answer(Y, False, date(2026, 3, 4)))
    assert _rule(store, _answer(Z, True, date(2026, 3, 5))) is None
    assert _rule(store, _answer(Z, True, date(2026, 3, 14))) is None
    assert _rule(store, _answer(Z, True, date(2026, 3, 15))) == "R441-3/reponse-delai"


def test_an_early_refusal_is_a_withdrawal_and_passes_the_dwelling_on() -> None:
    """Y refuses before it is offered the dwelling: recorded; when X refuses, the dwelling
    passes through Y to Z that day."""
    store = Store()
    assert _rule(store, _answer(Y, False, date(2026, 3, 3))) is None
    store.events += [_answer(Y, False, date(2026, 3, 3)), _answer(X, False, date(2026, 3, 9))]
    assert _rule(store, _answer(Z, True, date(2026, 3, 8))) == "R441-3/reponse-rang"
    assert _rule(store, _answer(Z, True, date(2026, 3, 9))) is None
    assert _rule(store, _answer(Z, True, date(2026, 3, 19))) is None
    assert _rule(store, _answer(Z, True, date(2026, 3, 20))) == "R441-3/reponse-delai"


def test_the_answer_s_date_is_trusted_between_the_decision_and_today() -> None:
    store = Store()
    assert _rule(store, _answer(X, True, date(2026, 2, 28))) == "R441-3/reponse-delai"
    assert _rule(store, _answer(X, True, DECIDED), today=DECIDED) is None
    assert _rule(store, _answer(X, True, date(2026, 3, 2)), today=DECIDED) == "R441-3/reponse-date"


def test_month_end_and_leap_day_windows() -> None:
    """A decision of 29 February 2028: rang 1 answers through 10 March, refuses that day;
    rang 2 has through 20 March."""
    leap = date(2028, 2, 29)
    decision = [_deciscal(X, "ATTR", 1, leap), _deciscal(Y, "ATTRRANG", 2, leap)]
    history_y = [decision[1]]
    refused = [_answer(X, False, date(2028, 3, 10))]
    ok = check_response(Y, "DEC-1", True, None, date(2028, 3, 20), history_y,
                        decision=decision, answers=refused)  # fmt: skip
    assert ok["numUnique"] == Y
    with pytest.raises(CALRuleError, match="reponse-delai"):
        check_response(Y, "DEC-1", True, None, date(2028, 3, 21), history_y,
                       decision=decision, answers=refused)  # fmt: skip


# -- a property over any day of refusal and of answer ------------------------------------


@given(refused=st.integers(0, 12), answered=st.integers(0, 30), accept=st.booleans())
def test_rang_2_s_window_follows_rang_1(refused: int, answered: int, accept: bool) -> None:
    """Rang 1 refuses on day ``refused`` (a day past 10 is late: rang 1 then lets its
    window lapse); rang 2 answers on day ``answered``."""
    x_answers = [_answer(X, False, DECIDED + timedelta(refused))] if refused <= 10 else []
    offered = refused if refused <= 10 else 11
    store = Store(*x_answers)
    rule = _rule(store, _answer(Y, accept, DECIDED + timedelta(answered)))
    if answered > offered + 10:
        assert rule == "R441-3/reponse-delai"
    elif answered < offered and accept:
        assert rule == "R441-3/reponse-rang"
    else:
        assert rule is None
