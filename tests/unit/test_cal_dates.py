"""Audit finding 1: dates at the ends of Python's calendar (0001-01-01 .. 9999-12-31).

* The applicant's answer is checked for any pair of dates, never with an
  ``OverflowError`` (a decision stored with ``DATEDEC`` 9999-12-30 before dates were
  bounded, answered on any day): it is accepted exactly when it comes 0 to 10 days after
  the decision (CCH R441-3, "the applicant answers within 10 days").
* A gestion partagée event dated outside 1900-2199 (``dateSurvenance`` or a ``DAT``
  field), whatever route brings it, is refused as ``bad_date``, like ``/cotation``'s date;
  a date inside is taken.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.errors import InputError
from hub.domain.cal_rules import CALRuleError, check_response
from hub.domain.gp.catalogue import SEED
from hub.domain.gp.validation import GPInput, validate_gp_event

NUM = "076112500000410691"
#: the bounds stated by docs/api.md (as /cotation's): not read from the code under test
FIRST, LAST = date(1900, 1, 1), date(2199, 12, 31)
OUTSIDE = st.one_of(st.dates(max_value=date(1899, 12, 31)), st.dates(min_value=date(2200, 1, 1)))
INSIDE = st.dates(min_value=FIRST, max_value=LAST)
#: any date, the ends of Python's calendar drawn often (a uniform draw rarely reaches them)
ANY = st.one_of(st.dates(), st.dates(min_value=date(9999, 12, 1)),
                st.dates(max_value=date(1, 1, 31)))  # fmt: skip


def _decided(on: date) -> dict[str, object]:
    return {"eventId": "d", "numUnique": NUM, "codeTypeEvenement": "DECISCAL",
            "dateSurvenance": on.isoformat(),
            "caracteristiques": {"DECISIONID": "dec-1", "DECISION": "ATTR", "RANG": "1",
                                 "CODECAL": "C", "LOGEMENT": "L",
                                 "DATEDEC": on.isoformat()}}  # fmt: skip


@given(decided=ANY, answered=ANY)
def test_an_answer_is_checked_on_any_dates_without_overflow(decided: date,
                                                            answered: date) -> None:
    in_time = decided <= answered and answered.toordinal() - decided.toordinal() <= 10
    try:
        check_response(NUM, "dec-1", True, None, answered, [_decided(decided)])
    except CALRuleError as exc:
        assert exc.rule == "R441-3/reponse-delai" and not in_time
    else:
        assert in_time


def test_the_audit_s_decision_of_9999_12_30_answered_on_9999_12_31() -> None:
    made = check_response(NUM, "dec-1", True, None, date(9999, 12, 31),
                          [_decided(date(9999, 12, 30))])  # fmt: skip
    assert made["caracteristiques"]["DATEDEC"] == "9999-12-30"


def _gp(on: date, fields: dict[str, str], code: str = "VISPROP") -> dict[str, object]:
    return validate_gp_event(SEED, GPInput(NUM, code, on, fields), auteur="bailleur-x")


@given(day=OUTSIDE)
def test_an_event_dated_outside_the_hub_s_dates_is_bad_date(day: date) -> None:
    with pytest.raises(InputError) as info:
        _gp(day, {"DATEVIS": "2025-06-05"})
    assert info.value.code == "bad_date" and "dateSurvenance" in info.value.message


@given(day=OUTSIDE)
def test_a_date_field_outside_the_hub_s_dates_is_bad_date(day: date) -> None:
    with pytest.raises(InputError) as info:
        _gp(date(2025, 6, 1), {"DATEVIS": day.isoformat()})
    assert info.value.code == "bad_date" and "DATEVIS" in info.value.message


@given(day=INSIDE)
def test_dates_inside_are_taken(day: date) -> None:
    record = _gp(day, {"DATEVIS": day.isoformat()})
    assert record["dateSurvenance"] == day.isoformat()
