"""Demand events (to ``hub.demandes``) and a demand's timeline (right to information).

:func:`build_router` gives the routes; the submission body is the ``DemandeEventIn`` model
of :mod:`hub.api.demande_model`, bounded by the settings. The applicant's timeline
(``vue=demandeur``) carries the demand's **current** score (today's, as ``GET
/demandes/{num}/cotation`` gives it: :mod:`hub.api.routes_cotation`), not the score as of
each event (docs/cotation.md, "The score in the timeline").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from connectors.ingress.publishing import PreparedEvent, prepare_event
from hub.api.context import ApiContext, current_actor, get_context
from hub.api.demande_model import as_event, demande_event_model
from hub.api.limits import GuardedRoute
from hub.api.models import NUM_UNIQUE, Published, Timeline, TimelineEntry
from hub.api.problems import responses
from hub.api.routes_cotation import Cotations, CritereOut
from hub.api.routes_cotation import cotation as current_cotation
from hub.api.unpublished import publish_responses
from hub.core import topics
from hub.core.errors import (
    ForbiddenError,
    HubError,
    InputError,
    NotFoundError,
    PublishError,
    TransientError,
)
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.gp.catalogue import Catalogue
from hub.domain.rights import require_demand_writer
from hub.stores.access.scope import claimed_by_others

router = APIRouter(tags=["demandes"], route_class=GuardedRoute)
_CREATIONS = ("CRE", "CRS")
#: most events in one submission
MAX_EVENTS = 100


def _prepare(index: int, raw: dict[str, Any], actor: Actor) -> PreparedEvent:
    # whatever the body says: who sends, and the profile its copies are cut to (its write
    # keeps what that profile does not see: hub.domain.profiles.restore_withheld)
    raw = {**raw, "source": f"api:{actor.id}", "profile": actor.profile}
    try:
        return prepare_event(raw)
    except HubError as exc:
        raise type(exc)(f"event {index}: {exc.message}", code=exc.code) from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # a value of the wrong JSON type somewhere in the snapshot
        raise InputError(
            f"event {index}: does not fit the DemandeEvent schema ({type(exc).__name__})",
            code="unencodable",
        ) from None


def _submit_route(max_wished_communes: int) -> APIRoute:
    """The submit route, whose body model carries the configured limits."""
    item = demande_event_model(max_wished_communes)

    async def submit_demand_events(
        events: Any,
        actor: Actor = Depends(current_actor),  # noqa: B008
        ctx: ApiContext = Depends(get_context),  # noqa: B008
    ) -> Published:
        """All events are validated before any is published (all or none refused). Only
        an actor that writes demands (a registering office: :mod:`hub.domain.rights`)
        submits any; a creation makes the submitter a holder; any other operation needs
        the demand to be held. ``source`` is set by the hub (``api:<actor id>``). A 503
        from Kafka names every event's ``eventId`` (``eventIds``): re-send them with
        those ids."""
        require_demand_writer(actor)  # 403 for any operation: writing is a guichet's
        raws = [as_event(e) for e in events]
        prepared = [await run_in_threadpool(_prepare, i, e, actor) for i, e in enumerate(raws)]
        for p in prepared:
            if p.event["operation"] not in _CREATIONS:
                await ctx.require_holder(actor, p.event["numUnique"])
            elif await run_in_threadpool(
                claimed_by_others, ctx.keys.engine, actor.id, p.event["numUnique"]
            ):
                # a creation must not make its submitter a holder of someone else's demand
                raise ForbiddenError(
                    f"actor {actor.id} may not create demand {p.event['numUnique']} again"
                )
        ids = tuple(p.event["eventId"] for p in prepared)
        created = [p.event["numUnique"] for p in prepared if p.event["operation"] in _CREATIONS]
        try:
            # check and claim again in one step (a creation racing ours from another
            # request or replica passed the check above too): 403 if it won
            await run_in_threadpool(ctx.holders.claim, actor.id, created)
            for p in prepared:
                await ctx.publisher.publish(topics.DEMANDES, p.key, p.value)
        except TransientError as exc:
            # nothing is stored here: the client re-sends, and with the same eventIds the
            # worker drops what was written before (or after: a timed-out send may still
            # be written) instead of dispatching it twice
            raise PublishError(
                f"{exc.message}; re-send the events with the eventIds of this answer",
                event_ids=ids, code=exc.code,
            ) from None  # fmt: skip
        return Published(accepted=len(prepared), eventIds=list(ids))

    # the body's type is built at run time from the Avro schemas and the settings
    events = Annotated[list[item], Body(min_length=1, max_length=MAX_EVENTS)]  # type: ignore[valid-type]
    submit_demand_events.__annotations__["events"] = events
    return GuardedRoute(
        "/demandes/evenements",
        submit_demand_events,
        methods=["POST"],
        status_code=202,
        response_model=Published,
        tags=["demandes"],
        summary="Submit demand events (CRE, MOD, REN, RAD ...) to hub.demandes",
        responses=publish_responses(400, 401, 403, 413, 422),
    )


def build_router(settings: HubSettings) -> APIRouter:
    """The routes of this module, with the body limits of ``settings``."""
    built = APIRouter(route_class=GuardedRoute)
    built.routes.append(_submit_route(settings.api.max_wished_communes))
    built.routes.extend(router.routes)
    return built


def applicant_entry(record: dict[str, Any], catalogue: Catalogue) -> TimelineEntry:
    """What the applicant sees of one event: the public label, the date and the fields
    marked visible; never the author, the comment or internal ids."""
    etype = next(iter(catalogue.get(record["codeTypeEvenement"])), None)
    visible = {f.code for f in etype.champs if f.visibleDemandeur} if etype else set()
    return TimelineEntry(
        codeTypeEvenement=record["codeTypeEvenement"],
        libelle=etype.texteDescriptifPGP if etype else record["codeTypeEvenement"],
        dateSurvenance=record["dateSurvenance"],
        caracteristiques={k: v for k, v in record["caracteristiques"].items() if k in visible},
    )


def actor_entry(record: dict[str, Any], catalogue: Catalogue) -> TimelineEntry:
    etype = next(iter(catalogue.get(record["codeTypeEvenement"])), None)
    return TimelineEntry(
        codeTypeEvenement=record["codeTypeEvenement"],
        libelle=etype.libelle if etype else record["codeTypeEvenement"],
        dateSurvenance=record["dateSurvenance"],
        caracteristiques=record["caracteristiques"],
        auteur=record["auteur"],
        commentaire=record["commentaire"],
        reglementaire=record["reglementaire"],
        aPublierSurPGP=record["aPublierSurPGP"],
        eventId=record["eventId"],
    )


class ScoredTimeline(Timeline):
    """The timeline; the applicant's view adds the demand's score today under each EPCI
    grid in force (null in the actors' view — actors read ``GET …/cotation`` and their
    feed —, and when the caller's feed holds no snapshot of the demand)."""

    cotation: Cotations | None = None


def applicant_critere(critere: CritereOut) -> CritereOut:
    """What the applicant sees of a criterion: a declaration without its author."""
    found = critere.declaration
    if found is None:
        return critere
    word = "declared" if found.valeur else "declared not met"
    return critere.model_copy(update={
        "declaration": None,
        "explication": f"{word} by a partner on {found.dateDeclaration.isoformat()}"})  # fmt: skip


@router.get(
    "/demandes/{num_unique}/timeline",
    response_model=ScoredTimeline,
    summary="A demand's gestion partagée events, in order",
    responses=responses(401, 403, 422, 503),
)
async def timeline(
    request: Request,
    num_unique: Annotated[str, Path(pattern=NUM_UNIQUE)],
    vue: Annotated[Literal["acteur", "demandeur"], Query()] = "acteur",
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> ScoredTimeline:
    """``vue=demandeur`` is the applicant's view (right to information): only events whose
    type is ``aPublierSurPGP``, with what the applicant may see — and the current score,
    declarations without their author. Holders only."""
    await ctx.require_holder(actor, num_unique)
    store = ctx.gp.store
    catalogue = await run_in_threadpool(store.catalogue)
    records = await run_in_threadpool(store.timeline, num_unique, published_only=vue == "demandeur")
    entry = applicant_entry if vue == "demandeur" else actor_entry
    scored: Cotations | None = None
    if vue == "demandeur":  # the applicant's right to see the score (a feed read: not for actors)
        try:
            scored = await current_cotation(request, num_unique, actor=actor, ctx=ctx)
        except NotFoundError:
            scored = None
        for c in scored.cotations if scored is not None else []:
            c.criteres = [applicant_critere(x) for x in c.criteres]
    return ScoredTimeline(
        numUnique=num_unique,
        vue=vue,
        evenements=[entry(r, catalogue) for r in records],
        cotation=scored,
    )
