"""CAL decisions (CCH R441-3) and the applicant's answers.

Their dates lie within the hub's (:mod:`hub.domain.days`: 422 ``bad_date`` otherwise).
Retries are the same request (:mod:`hub.stores.cal.service`): a decision without
``decisionId`` gets one derived from its content; the identical answer re-sent is 200.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

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
from hub.api.unpublished import publish_responses
from hub.domain.actors import Actor
from hub.domain.cal_rules import Candidate, Decision
from hub.domain.days import check_day
from hub.domain.rights import require_cal_author
from hub.stores.cal.service import content_decision_id

router = APIRouter(tags=["CAL"], route_class=GuardedRoute)


@router.post(
    "/cal/decisions",
    response_model=CALDecisionOut,
    status_code=201,
    summary="Record the decision of a CAL on one dwelling",
    responses=publish_responses(400, 401, 403, 409, 413, 422),
)
async def record_decision(
    body: CALDecisionIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> CALDecisionOut:
    """Only a landlord (whose CAL it is) holding every candidate demand. A broken rule is a
    422 problem whose ``rule`` names it (e.g. ``R441-3/trois-candidats``)."""
    require_cal_author(actor, ["DECISCAL"])  # the GP service checks it too, on every route
    check_day(body.dateDecision, "dateDecision")
    for c in body.candidats:
        if c.dateLimite is not None:
            check_day(c.dateLimite, "dateLimite")
    for c in body.candidats:
        await ctx.require_holder(actor, c.numUnique)
    d = Decision(
        decision_id=body.decisionId or "",
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
    if not body.decisionId:  # the same decision re-sent without an id is the same decision
        d = replace(d, decision_id=content_decision_id(d, actor.id))
    records = await ctx.cal.decide(d, actor)
    return CALDecisionOut(decisionId=d.decision_id, evenements=records)


@router.post(
    "/cal/decisions/{decision_id}/reponses",
    response_model=Recorded,
    status_code=201,
    summary="Record the applicant's acceptance or refusal (within 10 days)",
    responses={200: {"model": Recorded}, **publish_responses(400, 401, 403, 409, 413, 422)},
)
async def record_response(
    decision_id: Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=DECISION_ID)],
    body: ResponseIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> Any:
    """Recorded by the actor that recorded the decision (403 otherwise: the landlord
    receives the applicant's answer). 201 when recorded; 200
    when the identical answer was recorded before (then published again); another
    answer to the same decision is refused (``R441-3/reponse-unique``)."""
    check_day(body.dateReponse, "dateReponse")
    await ctx.require_holder(actor, body.numUnique)
    record, created = await ctx.cal.respond(
        body.numUnique, decision_id, body.accepte, body.motif, body.dateReponse, actor
    )
    out = Recorded(created=created, evenement=record)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)
