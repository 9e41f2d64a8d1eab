"""CAL decisions checked against CCH R441-3 (plain functions over plain data).

A decision covers one dwelling examined by one CAL and lists every candidate examined with
the outcome for each. :func:`check_decision` raises :class:`CALRuleError` naming the first
rule broken (``rule`` is a stable id, listed in :data:`RULES`); :func:`check_response`
does the same for the applicant's answer. Both read the demand's gestion partagée history
(``EvenementGP`` dicts) and never touch a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hub.core.errors import InputError
from hub.domain.gp.catalogue import PIECES_CONDITION

RESPONSE_DAYS = 10
IRRECEVABILITE_MOTIFS = ("IRRSEJ", "IRRRES")
ATTRIBUTIONS = ("ATTR", "ATTRRANG", "ATTRCOND")

RULES: dict[str, str] = {
    "R441-3/trois-candidats": "at least three candidates per dwelling, unless every "
    "candidate is DALO or prefect-designated",
    "R441-3/designation": "a decision only for a demand designated for that CAL and dwelling",
    "R441-3/examen": "a decision only for a demand examined by that CAL",
    "R441-3/candidat-unique": "each candidate appears once in a decision",
    "R441-3/rang-1": "an attribution has rang 1; there is at most one rang 1",
    "R441-3/rangs": "ranked attributions have rangs 2, 3 ... following a rang 1, no gap",
    "R441-3/condition-suspensive": "an attribution sous condition suspensive names a missing "
    "identity document or tax notice and a deadline after the decision",
    "R441-3/non-attribution-motif": "a non-attribution gives its reasons",
    "R441-3/irrecevabilite-motif": "a rejection for irrecevabilité gives its motive "
    "(IRRSEJ or IRRRES)",
    "R441-3/reponse-decision": "an answer refers to an attribution made to that applicant",
    "R441-3/reponse-delai": f"the applicant answers within {RESPONSE_DAYS} days of the day "
    "the dwelling is offered to it: the decision for rang 1, for rang n the refusal of rang "
    f"n-1 or the end of its {RESPONSE_DAYS} days",
    "R441-3/reponse-rang": "a ranked candidate accepts only once every better-ranked "
    f"candidate has refused or let its {RESPONSE_DAYS} days pass, and none has accepted",
    "R441-3/acceptation-unique": "one dwelling is accepted once: no acceptance after "
    "another candidate's acceptance of the same decision",
    "R441-3/reponse-date": "an answer is not dated after today (Europe/Paris)",
    "R441-3/reponse-unique": "the applicant answers a decision once",
    "R441-3/refus-motif": "a refusal gives its reason",
    "R441-3/decision-entiere": "a decision is recorded whole, at once, with all its "
    "candidates (POST /cal/decisions); no candidate is added to a decision recorded before",
    "R441-3/decision-coherente": "the candidates of one decision share its CAL, dwelling "
    "and date (DECISIONID, CODECAL, LOGEMENT, DATEDEC = dateSurvenance)",
    "R441-3/historique": "the events the CAL rules read (designation, examination, "
    "priority, decision, answer) are recorded once and never modified nor deleted: "
    "record a new event instead",
}


class CALRuleError(InputError):
    """A CAL decision or answer that breaks a rule of CCH R441-3."""

    code = "cal_rule"

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {RULES[rule]} ({detail})")
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Candidate:
    num_unique: str
    decision: str  # ATTR | ATTRRANG | ATTRCOND | NONATTR | IRREC
    rang: int | None = None
    motif: str | None = None
    piece_manquante: str | None = None
    date_limite: date | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    code_cal: str
    logement: str
    date_decision: date
    candidates: tuple[Candidate, ...]


History = Sequence[Mapping[str, Any]]


def _events(history: History, code: str, **fields: str) -> list[Mapping[str, Any]]:
    return [
        e
        for e in history
        if e["codeTypeEvenement"] == code
        and all(e["caracteristiques"].get(k) == v for k, v in fields.items())
    ]


def _prefect_designated(history: History, d: Decision) -> bool:
    designated = _events(
        history, "DESIGCAL", CODECAL=d.code_cal, LOGEMENT=d.logement, DESIGPREF="true"
    )
    return bool(designated) or bool(_events(history, "PRIORITE", TYPEPRIO="DALO"))


def check_decision(d: Decision, histories: Mapping[str, History]) -> None:
    """Raise :class:`CALRuleError` for the first rule ``d`` breaks (see module doc)."""
    nums = [c.num_unique for c in d.candidates]
    if len(set(nums)) != len(nums):
        raise CALRuleError("R441-3/candidat-unique", "a numéro unique is listed twice")
    for c in d.candidates:
        h = histories.get(c.num_unique, ())
        if not [
            e
            for e in _events(h, "DESIGCAL", CODECAL=d.code_cal, LOGEMENT=d.logement)
            if e["dateSurvenance"] <= d.date_decision.isoformat()
        ]:
            raise CALRuleError("R441-3/designation", f"candidate {c.num_unique}")
        if not [
            e
            for e in _events(h, "EXAMCAL", CODECAL=d.code_cal)
            if e["dateSurvenance"] <= d.date_decision.isoformat()
        ]:
            raise CALRuleError("R441-3/examen", f"candidate {c.num_unique}")
    if len(d.candidates) < 3 and not all(
        _prefect_designated(histories.get(c.num_unique, ()), d) for c in d.candidates
    ):
        raise CALRuleError("R441-3/trois-candidats", f"{len(d.candidates)} candidate(s)")
    for c in d.candidates:
        _check_candidate(c, d)
    _check_ranks(d)


def _check_candidate(c: Candidate, d: Decision) -> None:
    if c.decision == "ATTRCOND":
        if c.piece_manquante not in PIECES_CONDITION:
            raise CALRuleError(
                "R441-3/condition-suspensive",
                f"candidate {c.num_unique}: missing document not allowed",
            )
        if c.date_limite is None or c.date_limite <= d.date_decision:
            raise CALRuleError(
                "R441-3/condition-suspensive",
                f"candidate {c.num_unique}: deadline missing or not after the decision",
            )
    elif c.piece_manquante is not None or c.date_limite is not None:
        raise CALRuleError(
            "R441-3/condition-suspensive", f"candidate {c.num_unique}: only for ATTRCOND"
        )
    if c.decision == "NONATTR" and not (c.motif or "").strip():
        raise CALRuleError("R441-3/non-attribution-motif", f"candidate {c.num_unique}")
    if c.decision == "IRREC" and c.motif not in IRRECEVABILITE_MOTIFS:
        raise CALRuleError("R441-3/irrecevabilite-motif", f"candidate {c.num_unique}")
    if c.decision not in ATTRIBUTIONS and c.rang is not None:
        raise CALRuleError("R441-3/rangs", f"candidate {c.num_unique}: rang without attribution")


def _check_ranks(d: Decision) -> None:
    first = [c for c in d.candidates if c.decision in ("ATTR", "ATTRCOND")]
    for c in first:
        if c.rang not in (None, 1):
            raise CALRuleError("R441-3/rang-1", f"candidate {c.num_unique} has rang {c.rang}")
    if len(first) > 1:
        raise CALRuleError("R441-3/rang-1", f"{len(first)} attributions at rang 1")
    ranked = sorted((c.rang or 0) for c in d.candidates if c.decision == "ATTRRANG")
    if ranked and not first:
        raise CALRuleError("R441-3/rangs", "ranked attributions without a rang 1")
    if ranked != list(range(2, 2 + len(ranked))):
        raise CALRuleError("R441-3/rangs", f"rangs {ranked}")


def rank(record: Mapping[str, Any]) -> int:
    """The rang of a candidate's ``DECISCAL`` attribution: 1 for ``ATTR``/``ATTRCOND``
    (``RANG`` absent or 1), its ``RANG`` for ``ATTRRANG``."""
    f = record["caracteristiques"]
    if f.get("DECISION") in ("ATTR", "ATTRCOND"):
        return 1
    try:
        return int(f.get("RANG") or 0)
    except ValueError:
        return 0


def _answers(records: History, decision_id: str) -> list[Mapping[str, Any]]:
    return [e for e in records
            if e["codeTypeEvenement"] in ("ACCEPTDEM", "REFUSDEM")
            and e["caracteristiques"].get("DECISIONID") == decision_id]  # fmt: skip


def offered(
    rang: int, decided: date, decision: History, answers: History, on: date
) -> tuple[date | None, str | None]:
    """When the dwelling of a decision of ``decided`` passes to the candidate of ``rang``
    (``decision``: its DECISCAL records; ``answers``: the other candidates' answers to
    it), as known on ``on``: (its first day, None), or (None, why not — yet or ever).

    Rang 1 has it from the decision; rang n from the day rang n-1 is out: its refusal
    (not before the day it had it), or, without an answer, the day after its
    :data:`RESPONSE_DAYS` days. A better-ranked acceptance keeps it for ever."""
    start = decided
    by_rank = {rank(e): e["numUnique"] for e in decision
               if e["caracteristiques"].get("DECISION") in ATTRIBUTIONS}  # fmt: skip
    for k in range(1, rang):
        num = by_rank.get(k)
        if num is None:  # no such rang (a decision is checked whole: not expected)
            continue
        said = sorted((a for a in answers if a["numUnique"] == num),
                      key=lambda a: str(a["dateSurvenance"]))  # fmt: skip
        if any(a["codeTypeEvenement"] == "ACCEPTDEM" for a in said):
            return None, f"accepted by rang {k}"
        if said:
            start = max(start, date.fromisoformat(said[0]["dateSurvenance"]))
            continue
        if (on - start).days <= RESPONSE_DAYS:
            return None, f"rang {k} has not answered, its {RESPONSE_DAYS} days run from {start}"
        start = start + timedelta(days=RESPONSE_DAYS + 1)
    return start, None


def check_response(
    num_unique: str,
    decision_id: str,
    accepte: bool,
    motif: str | None,
    on: date,
    history: History,
    *,
    decision: History = (),
    answers: History = (),
    today: date | None = None,
) -> Mapping[str, Any]:
    """Check the applicant's answer; return the DECISCAL event it answers.

    ``history``: the applicant's own events; ``decision``: the ``DECISCAL`` records of
    every candidate of the decision (default: the applicant's own only); ``answers``: the
    other candidates' answers to it (ACCEPTDEM/REFUSDEM); ``today``: the Europe/Paris day
    the answer is recorded (None: not checked). The answer's date is the one its poster
    gives (docs/api.md, "CAL"): it may not precede the decision nor be after ``today``.

    A ranked attribution (rang n > 1) is offered when every better-ranked candidate is out
    (:func:`offered`); its :data:`RESPONSE_DAYS` days run from then. It may be refused
    earlier (a household withdrawing), not accepted; one acceptance per decision."""
    made = [
        e
        for e in _events(history, "DECISCAL", DECISIONID=decision_id)
        if e["caracteristiques"].get("DECISION") in ATTRIBUTIONS
    ]
    if not made:
        raise CALRuleError("R441-3/reponse-decision", f"decision {decision_id[:40]}")
    decided = date.fromisoformat(made[0]["caracteristiques"]["DATEDEC"])
    # a difference of dates never overflows; decided + 10 days does near date.max (a
    # decision stored before dates were bounded, hub.domain.days)
    if on < decided:
        raise CALRuleError(
            "R441-3/reponse-delai", f"decision of {decided.isoformat()}, answer of {on.isoformat()}"
        )
    if _events(history, "REFUSDEM", DECISIONID=decision_id) or _events(
        history, "ACCEPTDEM", DECISIONID=decision_id
    ):
        raise CALRuleError("R441-3/reponse-unique", f"decision {decision_id[:40]}")
    if not accepte and not (motif or "").strip():
        raise CALRuleError("R441-3/refus-motif", f"candidate {num_unique}")
    others = [a for a in _answers(answers, decision_id) if a["numUnique"] != num_unique]
    if accepte and any(a["codeTypeEvenement"] == "ACCEPTDEM" for a in others):
        raise CALRuleError("R441-3/acceptation-unique", f"decision {decision_id[:40]}")
    rang = rank(made[0])
    records = [e for e in decision if e["caracteristiques"].get("DECISIONID") == decision_id]
    start: date | None = decided
    why: str | None = None
    if rang > 1:
        start, why = offered(rang, decided, records or made, others, on)
    if start is not None and (on - start).days > RESPONSE_DAYS:
        raise CALRuleError(
            "R441-3/reponse-delai",
            f"decision of {decided.isoformat()}, rang {rang} offered from {start.isoformat()}, "
            f"answer of {on.isoformat()}",
        )
    # "late" tells more than "in the future": the window is checked first
    if today is not None and on > today:
        raise CALRuleError("R441-3/reponse-date", f"answer of {on.isoformat()}, today {today}")
    if accepte and start is None:
        raise CALRuleError("R441-3/reponse-rang", f"rang {rang}: {why}")
    if accepte and start is not None and on < start:
        raise CALRuleError("R441-3/reponse-rang",
                           f"rang {rang}: offered from {start}, answer of {on}")  # fmt: skip
    return made[0]  # a refusal before the dwelling is offered: a withdrawal
