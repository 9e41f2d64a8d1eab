"""CAL decisions (CCH R441-3) and the applicant's answers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from hub.api.context import ApiContext, current_actor, get_context
from hub.api.limits import GuardedRoute
from hub.api.models import (
    DECISION_ID,
    MAX_ID,
    CALDecisionIn,
    CALDecisionOut,
    Recorded,
    ResponseIn,
)
from hub.api.problems import responses
from hub.core.errors import ForbiddenError
from hub.domain.actors import Actor
from hub.domain.cal_rules import Candidate, Decision

router = APIRouter(tags=["CAL"], route_class=GuardedRoute)


@router.post(
    "/cal/decisions",
    response_model=CALDecisionOut,
    status_code=201,
    summary="Record the decision of a CAL on one dwelling",
    responses=responses(400, 401, 403, 409, 413, 422, 503),
)
async def record_decision(
    body: CALDecisionIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> CALDecisionOut:
    """Only a landlord (whose CAL it is) holding every candidate demand. A broken rule is a
    422 problem whose ``rule`` names it (e.g. ``R441-3/trois-candidats``)."""
    if actor.kind != "bailleur":
        raise ForbiddenError(f"only a bailleur records CAL decisions (actor kind {actor.kind})")
    for c in body.candidats:
        await ctx.require_holder(actor, c.numUnique)
    d = Decision(
        decision_id=body.decisionId or str(uuid.uuid4()),
        code_cal=body.codeCal,
        logement=body.logement,
        date_decision=body.dateDecision,
        candidates=tuple(
            Candidate(
                num_unique=c.numUnique,
                decision=c.decision,
                rang=c.rang,
                motif=c.motif,
                piece_manquante=c.pieceManquante,
                date_limite=c.dateLimite,
            )
            for c in body.candidats
        ),
    )
    records = await ctx.cal.decide(d, actor.id)
    return CALDecisionOut(decisionId=d.decision_id, evenements=records)


@router.post(
    "/cal/decisions/{decision_id}/reponses",
    response_model=Recorded,
    status_code=201,
    summary="Record the applicant's acceptance or refusal (within 10 days)",
    responses=responses(400, 401, 403, 409, 413, 422, 503),
)
async def record_response(
    decision_id: Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=DECISION_ID)],
    body: ResponseIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> Recorded:
    await ctx.require_holder(actor, body.numUnique)
    record = await ctx.cal.respond(
        body.numUnique, decision_id, body.accepte, body.motif, body.dateReponse, actor.id
    )
    return Recorded(created=True, evenement=record)
