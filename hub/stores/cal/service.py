"""Recording CAL decisions and the applicant's answers as gestion partagée events.

A decision becomes one ``DECISCAL`` event per candidate, stored (all or none) and published
by :class:`~hub.stores.gp.service.GPService`, which checks them with the CCH R441-3 rules against
each candidate's history (:mod:`hub.stores.cal.guard`) — the same checks whatever the route. A
rejection for irrecevabilité (``DECISION=IRREC``) leads to the demand's radiation: the
dispatch worker, which holds the demand's snapshot, turns that event into a ``RAD``
demand event with motive ``RADIRR`` (:mod:`dispatch.evenements`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from hub.domain.cal_rules import CALRuleError, Decision
from hub.domain.gp.validation import GPInput
from hub.stores.gp.service import GPService


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

    async def decide(self, d: Decision, auteur: str) -> list[dict[str, Any]]:
        """Store and publish the events of ``d`` once the CAL rules pass (CALRuleError
        naming the rule otherwise). A re-sent decision (same id) is idempotent."""
        records = [self.gp.prepare(i, auteur) for i in decision_inputs(d)]
        return [r for r, _ in await self.gp.record_all(records)]

    async def respond(
        self,
        num_unique: str,
        decision_id: str,
        accepte: bool,
        motif: str | None,
        on: date,
        auteur: str,
    ) -> dict[str, Any]:
        """Record the applicant's answer (ACCEPTDEM / REFUSDEM) once the R441-3 checks
        pass (:mod:`hub.stores.cal.guard`); the answer names the decision's dwelling."""
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
        )
        record, _ = await self.gp.record(data, auteur)
        return record
