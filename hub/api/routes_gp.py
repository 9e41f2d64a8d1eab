"""Gestion partagée events on a demand, and the event-type catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hub.api.context import ApiContext, current_actor, get_context
from hub.api.limits import GuardedRoute
from hub.api.models import NUM_UNIQUE, GPEventIn, Recorded
from hub.api.problems import responses
from hub.api.unpublished import publish_responses
from hub.domain.actors import Actor
from hub.domain.gp.validation import GPInput

router = APIRouter(tags=["gestion partagée"], route_class=GuardedRoute)


@router.post(
    "/demandes/{num_unique}/evenements-gp",
    response_model=Recorded,
    status_code=201,
    responses={200: {"model": Recorded}, **publish_responses(400, 401, 403, 409, 413, 422)},
    summary="Record a gestion partagée event on a demand",
)
async def record_gp_event(
    num_unique: Annotated[str, Path(pattern=NUM_UNIQUE)],
    body: GPEventIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> Any:
    """Validated against its type in the catalogue, stored append-only, published to
    ``hub.evenements`` and dispatched to every holder. 201 when recorded, 200 when the
    same ``eventId`` was recorded before with the same content (then published again).
    503 when Kafka did not acknowledge it: stored all the same, published later by the
    hub; the body names its ``eventId``. A CAL's acts (``ORDREJCAL``, ``EXAMCAL``,
    ``DECISCAL``) by a non-``bailleur`` and an answer to a decision by another actor than
    its author are 403 (:mod:`hub.domain.rights`)."""
    await ctx.require_holder(actor, num_unique)
    data = GPInput(
        num_unique=num_unique,
        code=body.codeTypeEvenement,
        date_survenance=body.dateSurvenance,
        caracteristiques=body.caracteristiques,
        commentaire=body.commentaire,
        event_id=body.eventId,
    )
    record = await run_in_threadpool(ctx.gp.prepare, data, actor.id)
    stored, created = (await ctx.gp.record_all([record], actor))[0]
    out = Recorded(created=created, evenement=stored)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/catalogue", summary="The event-type catalogue in force", responses=responses(401, 503)
)
async def catalogue(
    _actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> dict[str, Any]:
    cat = await run_in_threadpool(ctx.gp.store.catalogue)
    return cat.model_dump(mode="json")
