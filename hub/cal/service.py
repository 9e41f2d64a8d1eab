"""Recording CAL decisions and the applicant's answers as gestion partagée events.

A decision is checked by :mod:`hub.cal.rules` against each candidate's history, then one
``DECISCAL`` event per candidate is stored (all or none) and published. A rejection for
irrecevabilité (``DECISION=IRREC``) leads to the demand's radiation: the dispatch worker,
which holds the demand's snapshot, turns that event into a ``RAD`` demand event with motive
``RADIRR`` (:mod:`dispatch.evenements`).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from hub.cal.rules import Decision, check_decision, check_response
from hub.gp.service import GPService
from hub.gp.validation import GPInput


def decision_inputs(d: Decision) -> list[GPInput]:
    """One DECISCAL event input per candidate."""
    out = []
    for c in d.candidates:
        fields = {
            "CODECAL": d.code_cal, "LOGEMENT": d.logement, "DECISIONID": d.decision_id,
            "DECISION": c.decision, "DATEDEC": d.date_decision.isoformat(),
        }
        if c.decision in ("ATTR", "ATTRCOND"):
            fields["RANG"] = "1"
        elif c.rang is not None:
            fields["RANG"] = str(c.rang)
        if c.motif:
            fields["MOTIF"] = c.motif
        if c.piece_manquante:
            fields["PIECEMANQ"] = c.piece_manquante
        if c.date_limite:
            fields["DATELIM"] = c.date_limite.isoformat()
        # the event id derives from the decision: re-sending the decision is idempotent
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cal:{d.decision_id}:{c.num_unique}"))
        out.append(GPInput(num_unique=c.num_unique, code="DECISCAL",
                           date_survenance=d.date_decision, caracteristiques=fields,
                           event_id=event_id))
    return out


class CALService:
    def __init__(self, gp: GPService) -> None:
        self.gp = gp

    async def decide(self, d: Decision, auteur: str) -> list[dict[str, Any]]:
        """Check ``d`` (CALRuleError naming the rule), store and publish its events."""
        histories = {c.num_unique: self.gp.store.timeline(c.num_unique) for c in d.candidates}
        # a re-sent decision is already in the histories: check it as it was first checked
        for h in histories.values():
            h[:] = [e for e in h if e["caracteristiques"].get("DECISIONID") != d.decision_id
                    or e["codeTypeEvenement"] != "DECISCAL"]
        check_decision(d, histories)
        records = [self.gp.prepare(i, auteur) for i in decision_inputs(d)]
        return [r for r, _ in await self.gp.record_all(records)]

    async def respond(self, num_unique: str, decision_id: str, accepte: bool,
                      motif: str | None, on: date, auteur: str) -> dict[str, Any]:
        """Record the applicant's answer (ACCEPTDEM / REFUSDEM) after the R441-3 checks."""
        history = self.gp.store.timeline(num_unique)
        decision = check_response(num_unique, decision_id, accepte, motif, on, history)
        fields = {"DECISIONID": decision_id,
                  "LOGEMENT": decision["caracteristiques"]["LOGEMENT"]}
        if not accepte:
            fields["MOTIF"] = motif or ""
        data = GPInput(num_unique=num_unique, code="ACCEPTDEM" if accepte else "REFUSDEM",
                       date_survenance=on, caracteristiques=fields)
        record, _ = await self.gp.record(data, auteur)
        return record
