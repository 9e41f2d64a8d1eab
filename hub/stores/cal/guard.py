"""The CAL rules on every gestion partagée record, whatever route brought it (issue 19).

:func:`check_cal_records` is called by :meth:`hub.stores.gp.service.GPService.record_all` on
every batch of records before it is stored, so a ``DECISCAL``, ``ACCEPTDEM`` or
``REFUSDEM`` posted as a plain gestion partagée event meets the same CCH R441-3 checks
(:mod:`hub.domain.cal_rules`) as one sent to ``/cal``:

* the ``DECISCAL`` records of one decision (same ``DECISIONID``) are read back into a
  :class:`~hub.domain.cal_rules.Decision` (candidate, outcome, rang, motive, missing document,
  deadline) and checked against each candidate's stored history with
  :func:`~hub.domain.cal_rules.check_decision`. The records must agree on the CAL, the dwelling
  and the date (``R441-3/decision-coherente``), and a decision is recorded whole, at once:
  records of a decision already stored under other event ids are refused
  (``R441-3/decision-entiere``) — so a single forged candidate cannot be added to a
  decision, nor a decision be built one candidate at a time around the three-candidates
  rule. Re-sending the same records (same event ids) is checked as they were first.
* an answer (``ACCEPTDEM``/``REFUSDEM``) is checked with
  :func:`~hub.domain.cal_rules.check_response` against the demand's history: it must name
  (``DECISIONID``) an attribution made to that applicant, once, a refusal with its
  reason; a ``LOGEMENT`` it names must be the decision's. It is read with the decision's
  other candidates (:meth:`GPStore.decision_events`) and their answers (their
  timelines, and answers earlier in the batch): a ranked candidate (rang n) has its 10
  days from the day the dwelling passes to it — rang n-1's refusal, or the end of rang
  n-1's 10 days —, may not accept before (``R441-3/reponse-rang``), and one dwelling is
  accepted once (``R441-3/acceptation-unique``). The answer's date is its poster's
  (``dateSurvenance``, ``dateReponse``): the hub cannot see when the household answered,
  so it trusts that date only between the decision and today, Europe/Paris
  (``R441-3/reponse-date`` after today; before the decision ``R441-3/reponse-delai``).
  Its author must be the decision's (:func:`hub.domain.rights.require_decision_author`, a
  403 checked before the R441-3 rules: any holder could otherwise pre-empt the
  applicant's one answer).

The kind of the author of a CAL act (:data:`hub.domain.rights.CAL_ACTS`) is checked by
:meth:`hub.stores.gp.service.GPService.record_all`, which knows the author (the records
name it by id only), and by the SOAP gateway before it forwards anything.

Records the batch re-sends (same ``eventId`` as a stored one) are left out of the
histories, so an idempotent retry is checked like the first sending. The GP service runs
this check inside the transaction that appends the batch, one checked batch at a time
(:meth:`hub.stores.gp.store.GPStore.append_all`): two concurrent answers to one decision cannot
both pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.domain.cal_rules import CALRuleError, Candidate, Decision, check_decision, check_response
from hub.domain.rights import require_decision_author

PARIS = ZoneInfo("Europe/Paris")
DECISION = "DECISCAL"
ANSWERS = ("ACCEPTDEM", "REFUSDEM")
#: the event types the CAL rules govern
CAL_CODES = frozenset({DECISION, *ANSWERS})
#: the event types the CAL rules read or govern: a route that records some of them must
#: record all of them in the same store, or the checks would read a partial history
HISTORY_CODES = frozenset({*CAL_CODES, "DESIGCAL", "EXAMCAL", "PRIORITE"})
Record = Mapping[str, Any]
#: a demand's stored events, in order (``GPStore.timeline``)
Timeline = Callable[[str], Sequence[Record]]
#: the stored DECISCAL records of one decision id (``GPStore.decision_events``)
DecisionEvents = Callable[[str], Sequence[Record]]


def _fields(record: Record) -> Mapping[str, str]:
    fields: Mapping[str, str] = record["caracteristiques"]
    return fields


def _day(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CALRuleError("R441-3/decision-coherente", f"{what} is not a date") from None


def decision_of(decision_id: str, records: Sequence[Record]) -> Decision:
    """The :class:`Decision` the ``DECISCAL`` records of one decision describe."""
    first = _fields(records[0])
    for r in records:
        f = _fields(r)
        if (f.get("CODECAL"), f.get("LOGEMENT"), f.get("DATEDEC")) != (
            first.get("CODECAL"),
            first.get("LOGEMENT"),
            first.get("DATEDEC"),
        ) or r["dateSurvenance"] != f.get("DATEDEC"):
            raise CALRuleError("R441-3/decision-coherente", f"decision {decision_id[:40]}")
    candidates = []
    for r in records:
        f = _fields(r)
        rang = f.get("RANG")
        candidates.append(
            Candidate(
                num_unique=r["numUnique"],
                decision=f.get("DECISION", ""),
                rang=int(rang) if rang not in (None, "") else None,
                motif=f.get("MOTIF"),
                piece_manquante=f.get("PIECEMANQ"),
                date_limite=_day(f.get("DATELIM"), "DATELIM"),
            )
        )
    when = _day(first.get("DATEDEC"), "DATEDEC")
    assert when is not None  # DATEDEC is mandatory in the catalogue
    return Decision(
        decision_id=decision_id,
        code_cal=first.get("CODECAL", ""),
        logement=first.get("LOGEMENT", ""),
        date_decision=when,
        candidates=tuple(candidates),
    )


def paris_today() -> date:
    """Today in Europe/Paris (the day an answer may at most be dated)."""
    return datetime.now(PARIS).date()


def check_cal_records(
    records: Sequence[Record],
    timeline: Timeline,
    decision_events: DecisionEvents,
    *,
    today: date | None = None,
) -> None:
    """Raise :class:`CALRuleError` if a record of ``records`` breaks a CAL rule, and
    :class:`~hub.domain.rights.NotDecisionAuthor` for an answer recorded by another actor
    than the decision's (see the module doc); records of other types are not looked at."""
    sent = {r["eventId"] for r in records}

    def history(num: str) -> list[Record]:
        return [e for e in timeline(num) if e["eventId"] not in sent]

    decisions: dict[str, list[Record]] = {}
    for r in records:
        if r["codeTypeEvenement"] == DECISION:
            decisions.setdefault(_fields(r).get("DECISIONID", ""), []).append(r)
    for decision_id, group in decisions.items():
        if not decision_id:
            raise CALRuleError("R441-3/decision-coherente", "DECISIONID missing")
        if [e for e in decision_events(decision_id) if e["eventId"] not in sent]:
            raise CALRuleError("R441-3/decision-entiere", f"decision {decision_id[:40]}")
        d = decision_of(decision_id, group)
        check_decision(d, {c.num_unique: history(c.num_unique) for c in d.candidates})
    answered: list[Record] = []
    for r in records:
        if r["codeTypeEvenement"] not in ANSWERS:
            continue
        f = _fields(r)
        decision_id = f.get("DECISIONID", "")
        earlier = [a for a in answered if a["numUnique"] == r["numUnique"]]
        past = [*history(r["numUnique"]), *earlier]
        decided_by = (
            e["auteur"]
            for e in past
            if e["codeTypeEvenement"] == DECISION and _fields(e).get("DECISIONID") == decision_id
        )
        require_decision_author(r["auteur"], decided_by, decision_id)
        # the other candidates of the decision and their answers (stored, or earlier in
        # this batch): rang order and one acceptance per dwelling
        decision = [e for e in decision_events(decision_id) if e["eventId"] not in sent]
        others: list[Record] = []
        for num in sorted({e["numUnique"] for e in decision} - {r["numUnique"]}):
            others += [e for e in history(num) if e["codeTypeEvenement"] in ANSWERS]
        others += [a for a in answered if a["numUnique"] != r["numUnique"]]
        made = check_response(
            r["numUnique"],
            decision_id,
            r["codeTypeEvenement"] == "ACCEPTDEM",
            f.get("MOTIF"),
            date.fromisoformat(r["dateSurvenance"]),
            past,
            decision=decision,
            answers=others,
            today=today if today is not None else paris_today(),
        )
        if f.get("LOGEMENT") not in (None, _fields(made).get("LOGEMENT")):
            raise CALRuleError(
                "R441-3/reponse-decision", f"decision {decision_id[:40]}: another dwelling"
            )
        answered.append(r)
