"""An actor's feed by cursor (for systems that cannot consume Kafka), audit, health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from hub.api.context import ApiContext, current_actor, get_context
from hub.api.limits import GuardedRoute
from hub.api.models import NUM_UNIQUE, AuditPage, FeedPage, Health
from hub.api.problems import responses
from hub.api.recut import recut
from hub.core.errors import ForbiddenError
from hub.core.topics import ACTOR_ID_RE
from hub.domain.actors import Actor
from hub.stores.access.scope import audit_needs_holding

router = APIRouter(route_class=GuardedRoute)

#: rows of one ``GET /audit`` page at most (and by default: the answer before paging)
AUDIT_PAGE_MAX = 1000
#: the highest audit cursor: a position in the audit trail (``seq``, a 32-bit integer)
AUDIT_CURSOR_MAX = 2**31 - 1


@router.get(
    "/feed",
    response_model=FeedPage,
    tags=["feed"],
    summary="Read the caller's own feed from a cursor",
    responses=responses(401, 404, 422, 503),
)
async def feed(
    cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> FeedPage:
    """Records of ``hub.feed.<caller>`` from offset ``cursor``; pass ``nextCursor`` back
    to continue. Records are cut to the caller's profile as it is now (a record written
    for a wider profile before a downgrade is cut again: :mod:`hub.api.recut`); every one
    carrying personal data is recorded in the audit trail (channel ``api``). 404 if no
    feed exists yet."""
    page, nxt, end = await ctx.pages.read(actor.id, cursor, limit)
    records = [recut(r, actor.profile) for r in page]
    await run_in_threadpool(ctx.audit.record, actor.id, "api", records)
    return FeedPage(records=records, nextCursor=nxt, endCursor=end)


@router.get(
    "/audit",
    response_model=AuditPage,
    tags=["audit"],
    summary="Deliveries of personal data, page by page",
    responses=responses(401, 403, 422, 503),
)
async def audit(
    numUnique: Annotated[str | None, Query(pattern=NUM_UNIQUE)] = None,
    actorId: Annotated[str | None, Query(max_length=63, pattern=ACTOR_ID_RE.pattern)] = None,
    cursor: Annotated[
        int,
        Query(ge=0, le=AUDIT_CURSOR_MAX, description="Where to start: 0, or a nextCursor."),
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=AUDIT_PAGE_MAX, description="Rows of this page at most.")
    ] = AUDIT_PAGE_MAX,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> AuditPage:
    """Up to ``limit`` rows from ``cursor`` on, oldest first; pass ``nextCursor`` back to
    continue (null: no row follows yet). An ``etat`` actor (the territory's
    administrator) sees every delivery; any other actor only the deliveries made to
    itself, and by numéro only for a demand it holds."""
    if audit_needs_holding(actor, numUnique):
        await ctx.require_holder(actor, numUnique or "")
    if actor.kind != "etat":
        if actorId not in (None, actor.id):
            raise ForbiddenError("an actor may only read the audit of its own deliveries")
        actorId = actor.id
    entries, nxt = await run_in_threadpool(
        lambda: ctx.audit.page(num_unique=numUnique, actor_id=actorId, cursor=cursor, limit=limit)
    )
    return AuditPage(deliveries=[e.to_json() for e in entries], nextCursor=nxt)


@router.get(
    "/health",
    response_model=Health,
    tags=["health"],
    responses={503: {"model": Health, "description": "The database does not answer"}},
)
async def health(ctx: ApiContext = Depends(get_context)) -> JSONResponse:  # noqa: B008
    """Unauthenticated liveness: 200 when the database answers, 503 otherwise."""

    def probe() -> bool:
        try:
            with ctx.keys.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    ok = await run_in_threadpool(probe)
    body = Health(status="ok" if ok else "degraded", database="ok" if ok else "down")
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
