"""Territorial statistics and the similar demands of a demand, under statistical secrecy
(issue 20 point 5; docs/statistics.md).

* ``GET /statistiques/{niveau}/{code}`` (any authenticated actor): the figures of a commune,
  an EPCI or a département (:func:`hub.services.statistics.territory_json`).
* ``GET /demandes/{num}/cotation/similaires`` (holders only, like the cotation): for each
  EPCI of the demand's wished communes whose grid is in force, the applicant's score and
  its detail (as ``GET …/cotation``) and, per typology the demand wants, the low / median /
  high scores of the similar demands with the mean waiting time of their attributions.
  A radiated demand has no score, as ``GET …/cotation`` answers (review O, O5): ``etat``
  ``radiee`` and ``epcis`` empty.

Every figure on fewer than 11 demands is ``{"valeur": null, "secret": true}``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from hub.api.context import ApiContext, current_actor, get_context
from hub.api.limits import GuardedRoute
from hub.api.models import NUM_UNIQUE
from hub.api.problems import responses
from hub.api.routes_cotation import EPCI, RADIATION, _out, _stores, paris_today, wished_epcis
from hub.core.errors import InputError, NotFoundError
from hub.domain.actors import Actor
from hub.domain.cotation import faits, score, shipped_grids
from hub.domain.days import FIRST_DAY, LAST_DAY
from hub.domain.profiles_cotation import cut_score
from hub.domain.state import wished_typologies
from hub.services import statistics as service
from hub.stores.statistics.store import StatisticsStore

router = APIRouter(tags=["statistiques"], route_class=GuardedRoute)
CODE = r"^[0-9A-Za-z]{2,9}$"


def _store(request: Request) -> StatisticsStore:
    found: StatisticsStore | None = getattr(request.app.state, "statistics", None)
    if found is None:
        found = StatisticsStore(get_context(request).keys.engine)
        request.app.state.statistics = found
    return found


def _day(on: date | None) -> date:
    at = on or paris_today()  # the Europe/Paris day, as GET …/cotation (audit N, N5)
    if not FIRST_DAY <= at <= LAST_DAY:
        raise InputError(f"date must be within {FIRST_DAY} and {LAST_DAY}", code="bad_date")
    return at


@router.get(
    "/statistiques/{niveau}/{code}",
    summary="A territory's figures (stock, new, radiated, attributions) under secrecy",
    responses=responses(401, 404, 422, 503),
)
async def territoire(
    request: Request,
    niveau: Annotated[str, Path(pattern=r"^(commune|epci|departement)$")],
    code: Annotated[str, Path(pattern=CODE)],
    on: Annotated[date | None, Query(alias="date")] = None,
    mois: Annotated[int, Query(ge=1, le=60)] = 12,
    actor: Actor = Depends(current_actor),  # noqa: B008
) -> dict[str, Any]:
    """The figures of the demands whose first wished commune lies in the territory, on
    ``date`` (default today, the Europe/Paris day), with ``mois`` months of series.
    Figures on fewer than 11 demands are withheld: ``{"valeur": null, "secret": true}``."""
    at = _day(on)
    figures = await run_in_threadpool(service.territory, _store(request), niveau, code, at, mois)
    return service.territory_json(figures)


@router.get(
    "/demandes/{num_unique}/cotation/similaires",
    summary="A demand's score and the scores of similar demands (same EPCI and typology)",
    responses=responses(401, 403, 404, 422, 503),
)
async def similaires(
    request: Request,
    num_unique: Annotated[str, Path(pattern=NUM_UNIQUE)],
    epci: Annotated[str | None, Query(pattern=EPCI)] = None,
    on: Annotated[date | None, Query(alias="date")] = None,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> dict[str, Any]:
    """For each EPCI of the demand whose grid is in force on ``date`` (only ``epci`` if
    given): the applicant's score and detail from the latest snapshot in the caller's feed,
    and per typology wanted the low (1st quartile), median and high (3rd quartile) scores
    of the active demands wishing the EPCI and that typology, with the mean days from
    creation to attribution of those attributed in the 12 calendar months up to the
    reference date's month. ``etat`` is the
    demand's state in the caller's feed, as ``GET …/cotation`` gives it: a radiated
    demand has no score, so nothing to compare — ``etat`` ``radiee`` and ``epcis``
    empty."""
    at = _day(on)
    await ctx.require_holder(actor, num_unique)
    cot = _stores(request)
    record = await cot.snapshots.latest_record(actor.id, num_unique)
    if record is None:
        raise NotFoundError(f"no snapshot of demand {num_unique} in the feed of {actor.id}")
    snapshot, version = dict(record["demande"]), int(record["demandeVersion"])
    answer: dict[str, Any] = {
        "numUnique": num_unique,
        "date": at.isoformat(),
        "demandeVersion": version,
        "etat": "active",
        "seuilSecret": 11,
        "epcis": [],
    }
    if record["kind"] == RADIATION:  # no score for a demand not active, as GET …/cotation
        return {**answer, "etat": "radiee"}
    typologies = list(dict.fromkeys(wished_typologies(snapshot)))
    out: list[dict[str, Any]] = []
    for code in wished_epcis(snapshot):
        grid = shipped_grids().en_vigueur(code, at)
        if grid is None or epci not in (None, code):
            continue
        declared = await run_in_threadpool(cot.declarations.in_force, num_unique, code,
                                           faits.date_creation(snapshot), at)  # fmt: skip
        seuils = await run_in_threadpool(cot.seuils, code)
        # the caller's view of the score, as GET …/cotation gives it (docs/profiles.md)
        own = _out(cut_score(score(snapshot, grid, declared, at, seuils), grid, actor.profile))
        similar = await run_in_threadpool(service.similar, _store(request), [code], typologies, at)
        out.append(
            {
                "cotation": own.model_dump(mode="json"),
                "similaires": [service.similaires_json(s) for s in similar],
            }
        )
    return {**answer, "epcis": out}
