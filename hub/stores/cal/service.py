"""Recording CAL decisions and the applicant's answers as gestion partagée events.

A decision becomes one ``DECISCAL`` event per candidate, stored (all or none) and published
by :class:`~hub.stores.gp.service.GPService`, which checks them with the CCH R441-3 rules against
each candidate's history (:mod:`hub.stores.cal.guard`) — the same checks whatever the route. A
rejection for irrecevabilité (``DECISION=IRREC``) leads to the demand's radiation: the
dispatch worker, which holds the demand's snapshot, turns that event into a ``RAD``
demand event with motive ``RADIRR`` (:mod:`dispatch.evenements`).

Retries are the same request, never a second one: a decision's event ids derive from its
id and each candidate (:func:`decision_inputs`), a decision sent without an id gets one
derived from its content and author (:func:`content_decision_id`), and an answer's event id
derives from the decision, the applicant, the author and the answer itself
(:func:`answer_event_id`): the identical answer re-sent finds the stored one, another
answer to the same decision meets the R441-3 "answer once" rule.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from hub.core.errors import PublishError
from hub.domain.actors import Actor
from hub.domain.cal_rules import CALRuleError, Decision
from hub.domain.gp.validation import GPInput
from hub.stores.gp.service import GPService


def _derived(kind: str, content: object) -> str:
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"passerelle:{kind}:{text}"))


def content_decision_id(d: Decision, auteur: str) -> str:
    """The id of a decision sent without one: a UUID derived from what it decides (CAL,
    dwelling, date, each candidate's outcome, rang, motive, missing document, deadline;
    candidates in any order) and its author, so the same decision re-sent is the same
    decision. ``d.decision_id`` is not read."""
    candidates = sorted(
        (
            c.num_unique,
            c.decision,
            c.rang if c.rang is not None else (1 if c.decision in ("ATTR", "ATTRCOND") else None),
            c.motif,
            c.piece_manquante,
            c.date_limite.isoformat() if c.date_limite else None,
        )
        for c in d.candidates
    )
    content = [auteur, d.code_cal, d.logement, d.date_decision.isoformat(), candidates]
    return _derived("cal-decision", content)


def answer_event_id(
    num_unique: str, decision_id: str, accepte: bool, motif: str | None, on: date, auteur: str
) -> str:
    """The event id of an applicant's answer: derived from all of it (see module doc;
    an acceptance records no motive, so its ``motif`` is not part of it)."""
    said = None if accepte else motif
    return _derived("cal-reponse", [decision_id, num_unique, auteur, accepte, said, on.isoformat()])


def decision_inputs(d: Decision) -> list[GPInput]:
    """One DECISCAL event input per candidate."""
    out = []
    for c in d.candidates:
        fields = {
            "CODECAL": d.code_cal,
            "LOGEMENT": d.logement,
            "DECISIONID": d.decision_id,
            "DECISION": c.decision,
            "DATEDEC": d.date_decision.isoformat(),
        }
        if c.rang is not None:
            fields["RANG"] = str(c.rang)  # checked as given (an ATTR must have rang 1)
        elif c.decision in ("ATTR", "ATTRCOND"):
            fields["RANG"] = "1"
        if c.motif:
            fields["MOTIF"] = c.motif
        if c.piece_manquante:
            fields["PIECEMANQ"] = c.piece_manquante
        if c.date_limite:
            fields["DATELIM"] = c.date_limite.isoformat()
        # the event id derives from the decision: re-sending the decision is idempotent
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cal:{d.decision_id}:{c.num_unique}"))
        out.append(
            GPInput(
                num_unique=c.num_unique,
                code="DECISCAL",
                date_survenance=d.date_decision,
                caracteristiques=fields,
                event_id=event_id,
            )
        )
    return out


class CALService:
    def __init__(self, gp: GPService) -> None:
        self.gp = gp

    async def decide(self, d: Decision, author: Actor) -> list[dict[str, Any]]:
        """Store and publish the events of ``d`` by ``author`` once the CAL rules pass
        (CALRuleError naming the rule otherwise; a non-``bailleur`` author is refused by
        the GP service). A re-sent decision (same id) is idempotent."""
        records = [self.gp.prepare(i, author.id) for i in decision_inputs(d)]
        try:
            return [r for r, _ in await self.gp.record_all(records, author)]
        except PublishError as exc:  # the client retries with this id: the same decision
            raise PublishError(exc.message, event_ids=exc.event_ids,
                               decision_id=d.decision_id, code=exc.code) from None  # fmt: skip

    async def respond(
        self,
        num_unique: str,
        decision_id: str,
        accepte: bool,
        motif: str | None,
        on: date,
        author: Actor,
    ) -> tuple[dict[str, Any], bool]:
        """Record the applicant's answer (ACCEPTDEM / REFUSDEM), by ``author``, once the
        R441-3 checks pass and ``author`` is the decision's (:mod:`hub.stores.cal.guard`);
        the answer names the decision's dwelling.
        (The stored record, created): the identical answer re-sent is found (created
        false) and published again (module doc)."""
        if not accepte and not (motif or "").strip():  # named as the rule, not a field
            raise CALRuleError("R441-3/refus-motif", f"candidate {num_unique}")
        fields = {"DECISIONID": decision_id}
        for e in self.gp.store.timeline(num_unique):
            if (
                e["codeTypeEvenement"] == "DECISCAL"
                and e["caracteristiques"].get("DECISIONID") == decision_id
            ):
                fields["LOGEMENT"] = e["caracteristiques"]["LOGEMENT"]
        if not accepte:
            fields["MOTIF"] = motif or ""
        data = GPInput(
            num_unique=num_unique,
            code="ACCEPTDEM" if accepte else "REFUSDEM",
            date_survenance=on,
            caracteristiques=fields,
            event_id=answer_event_id(num_unique, decision_id, accepte, motif, on, author.id),
        )
        return await self.gp.record(data, author)
