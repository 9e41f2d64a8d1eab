"""A demand's cotation (score and detail per EPCI grid) and partners' declarations of the
criteria the SNE data cannot tell (issue 20 point 4; docs/cotation.md).

* ``GET /demandes/{num}/cotation``: for each EPCI whose communes the demand wishes and
  whose grid is in force on ``date`` (default: today, the Europe/Paris day as in the feed,
  :func:`paris_today`; audit N, N5), the score of the latest snapshot the caller received
  (:mod:`hub.api.snapshots`) with the declarations in force on that day
  (:mod:`hub.stores.cotation.store`: of the demand's life, audit N, N9; dated on or before
  ``date``, N10). 404 if the caller's feed holds no snapshot of it yet. A radiated demand
  (the latest record is a ``RADIATION``) has no score, as in the feed: 200 with ``etat``
  ``radiee`` and no ``cotations`` (audit N, N4).
  Cut to the caller's profile (:func:`hub.domain.profiles_cotation.cut_score`,
  docs/profiles.md "Scores and changed fields"), like the feed's.
  The quartile thresholds of the population criteria come from the statistics' facts
  (:meth:`hub.stores.statistics.store.StatisticsStore.seuils`, folded by ``hub stats
  fold``): withheld below 11 applicants of the EPCI, those criteria are then ``indetermine``.
* ``POST /demandes/{num}/cotation/declarations``: a declaration of a ``declaration``
  criterion of a grid in force today (the Paris day), dated today, for the demand of the
  latest snapshot the caller received (its ``dateCreationDemande``: a new demand on the
  numéro after a ``SUP`` does not inherit it); taken into account by the next score. A profile
  declares or withdraws only the declared criteria it reads
  (:func:`hub.domain.profiles_cotation.declarable_by`): 403 otherwise, decided before the
  grid is looked at, so the answer says nothing of the criteria of the grid beyond what
  the profile reads.

Both are per-demand routes: holders only (403 otherwise), like the timeline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool
from starlette.concurrency import run_in_threadpool

from hub.api.context import ApiContext, current_actor, get_context
from hub.api.limits import GuardedRoute
from hub.api.models import MAX_ID, MAX_TEXT, NUM_UNIQUE, Strict
from hub.api.problems import responses
from hub.api.snapshots import LatestSnapshots
from hub.api.text import ID_PATTERN, Text
from hub.core.errors import ForbiddenError, InputError, NotFoundError, UnknownCommuneError
from hub.domain.actors import Actor
from hub.domain.cotation import Grille, Score, faits, score, shipped_grids
from hub.domain.days import FIRST_DAY, LAST_DAY  # the dates a score may be asked for
from hub.domain.geo import get_geography
from hub.domain.profiles_cotation import PUBLIC_DECLARED, cut_score, declarable_by
from hub.domain.statistics import SeuilsSource
from hub.stores.cotation.store import DeclarationStore, NewDeclaration
from hub.stores.statistics.store import StatisticsStore

router = APIRouter(tags=["cotation"], route_class=GuardedRoute)
PARIS = ZoneInfo("Europe/Paris")
#: the ``kind`` of the feed record of a radiated demand (hub.domain.decisions.RADIATION)
RADIATION = "RADIATION"
EPCI = r"^[0-9]{9}$"
CRITERE = r"^[A-Z][A-Z0-9_]{0,39}$"


class DeclarationOut(BaseModel):
    valeur: bool
    auteur: str
    dateDeclaration: date


class CritereOut(BaseModel):
    code: str
    libelle: str
    categorie: Literal["legal", "local"]
    source: Literal["demande", "declaration"]
    statut: Literal["rempli", "non_rempli", "indetermine"]
    points: int
    pointsMax: int
    explication: str
    declaration: DeclarationOut | None = None


class CotationOut(BaseModel):
    epci: str
    versionGrille: str
    total: int
    horsCotation: bool
    maximum: int
    criteres: list[CritereOut]


class Cotations(BaseModel):
    numUnique: str
    date: date
    demandeVersion: int
    etat: Literal["active", "radiee"] = Field(
        default="active",
        description="The demand's state in the caller's feed: a radiated demand has no "
        "score (``cotations`` empty), as its RADIATION record carries none.",
    )
    cotations: list[CotationOut]


class DeclarationIn(Strict):
    """A partner's declaration. ``valeur`` is a JSON boolean and nothing else: pydantic's
    lax mode would read ``"true"``, ``"no"``, ``1`` or ``0.0`` as one, and a declaration
    is a partner's statement recorded as such (422 ``invalid_request`` naming
    ``body.valeur``). The string fields keep their patterns (JSON strings only)."""

    epci: str = Field(pattern=EPCI)
    critere: str = Field(pattern=CRITERE, max_length=40)
    valeur: StrictBool = Field(description="true: the criterion is met; false: withdrawn. "
                               "A JSON boolean (no \"true\", no 1).")  # fmt: skip
    commentaire: Text | None = Field(default=None, max_length=MAX_TEXT)
    declarationId: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID, pattern=ID_PATTERN
    )


class DeclarationRecorded(BaseModel):
    created: bool
    declaration: dict[str, Any]


class _Cotation:
    """The stores of this module, one per app (built at first use)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.snapshots = LatestSnapshots(ctx.keys.engine, ctx.settings, ctx.pages)
        self.declarations = DeclarationStore(ctx.keys.engine)
        #: the EPCI's quartile thresholds (None: unknown or withheld)
        self.seuils: SeuilsSource = StatisticsStore(ctx.keys.engine).seuils


def _stores(request: Request) -> _Cotation:
    found: _Cotation | None = getattr(request.app.state, "cotation", None)
    if found is None:
        found = _Cotation(get_context(request))
        request.app.state.cotation = found
    return found


def paris_today() -> date:
    """Today's Europe/Paris day: the day the feed scores on (dispatch.cotation.paris_day)
    and the demand's dates are written in."""
    return datetime.now(UTC).astimezone(PARIS).date()


def wished_epcis(snapshot: dict[str, Any]) -> list[str]:
    """The EPCIs of the demand's wished communes (today's codes), in wish order."""
    geo = get_geography()
    wished = ((snapshot.get("demandeLogement") or {}).get("logementRecherche") or {}).get(
        "listeLocalisationSouhaite"
    ) or []
    out: list[str] = []
    for place in wished:
        code = (place or {}).get("commune")
        if not isinstance(code, str):
            continue
        try:
            epci = geo.commune(geo.resolve(code)).epci
        except UnknownCommuneError:
            continue
        if epci is not None and epci not in out:
            out.append(epci)
    return out


def check_declarable(epci: str, critere: str, on: date) -> Grille:
    """The grid in force on ``on`` for ``epci`` if ``critere`` is one of its declared
    criteria; :class:`InputError` (422) otherwise."""
    grid = shipped_grids().en_vigueur(epci, on)
    if grid is None:
        raise InputError(
            f"no cotation grid in force for EPCI {epci} on {on.isoformat()}", code="no_grid"
        )
    found = grid.critere(critere)
    if found is None:
        raise InputError(
            f"criterion {critere} is not in grid {epci}-{grid.version}", code="unknown_critere"
        )
    if not found.declare:
        raise InputError(
            f"criterion {critere} is computed from the demand, not declared",
            code="critere_not_declared",
        )
    return grid


def _out(result: Score) -> CotationOut:
    return CotationOut(
        epci=result.epci,
        versionGrille=result.version,
        total=result.total,
        horsCotation=result.hors_cotation,
        maximum=result.maximum,
        criteres=[
            CritereOut(
                code=d.code,
                libelle=d.libelle,
                categorie=d.categorie,
                source=d.source,
                statut=d.statut,
                points=d.points,
                pointsMax=d.points_max,
                explication=d.explication,
                declaration=None
                if d.declaration is None
                else DeclarationOut(
                    valeur=d.declaration.valeur,
                    auteur=d.declaration.auteur,
                    dateDeclaration=d.declaration.date,
                ),
            )
            for d in result.detail
        ],
    )


@router.get(
    "/demandes/{num_unique}/cotation",
    response_model=Cotations,
    summary="A demand's score and its detail under each EPCI grid in force",
    responses=responses(401, 403, 404, 422, 503),
)
async def cotation(
    request: Request,
    num_unique: Annotated[str, Path(pattern=NUM_UNIQUE)],
    epci: Annotated[str | None, Query(pattern=EPCI)] = None,
    on: Annotated[date | None, Query(alias="date")] = None,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> Cotations:
    """One score per EPCI of the demand's wished communes that has a grid in force on
    ``date`` (default: today, the Europe/Paris day; only ``epci`` if given), from the
    latest snapshot in the caller's feed and the partners' declarations in force on that
    day (of this demand — not of an earlier one deleted on the numéro — recorded on or
    before ``date``), cut to the caller's profile (a criterion withheld from it is absent,
    its points out of the total). DALO demands are *hors cotation*. A radiated demand has
    no score, as in the feed: ``etat`` ``radiee`` and ``cotations`` empty."""
    at = on or paris_today()
    if not FIRST_DAY <= at <= LAST_DAY:
        raise InputError(f"date must be within {FIRST_DAY} and {LAST_DAY}", code="bad_date")
    await ctx.require_holder(actor, num_unique)
    stores = _stores(request)
    record = await stores.snapshots.latest_record(actor.id, num_unique)
    if record is None:
        raise NotFoundError(f"no snapshot of demand {num_unique} in the feed of {actor.id}")
    snapshot, version = dict(record["demande"]), int(record["demandeVersion"])
    if record["kind"] == RADIATION:  # no score for a demand not active, as in the feed
        return Cotations(numUnique=num_unique, date=at, demandeVersion=version,
                         etat="radiee", cotations=[])  # fmt: skip
    created = faits.date_creation(snapshot)
    results: list[CotationOut] = []
    for code in wished_epcis(snapshot):
        grid = shipped_grids().en_vigueur(code, at)
        if grid is None or epci not in (None, code):
            continue
        declared = await run_in_threadpool(stores.declarations.in_force, num_unique, code,
                                           created, at)  # fmt: skip
        seuils = await run_in_threadpool(stores.seuils, code)
        results.append(_out(cut_score(score(snapshot, grid, declared, at, seuils), grid,
                                      actor.profile)))  # fmt: skip
    return Cotations(numUnique=num_unique, date=at, demandeVersion=version, cotations=results)


@router.post(
    "/demandes/{num_unique}/cotation/declarations",
    response_model=DeclarationRecorded,
    status_code=201,
    responses={
        200: {"model": DeclarationRecorded},
        **responses(400, 401, 403, 409, 413, 422, 503),
    },
    summary="Declare a cotation criterion the SNE data cannot tell",
)
async def declare(
    request: Request,
    num_unique: Annotated[str, Path(pattern=NUM_UNIQUE)],
    body: DeclarationIn,
    actor: Actor = Depends(current_actor),  # noqa: B008
    ctx: ApiContext = Depends(get_context),  # noqa: B008
) -> Any:
    """Only a criterion of source ``declaration`` in the EPCI's grid in force today (the
    Europe/Paris day), that the caller's profile reads (403 otherwise, whether or not the
    grid has it); ``valeur=false`` withdraws it. The declaration is dated today (Paris)
    and belongs to the demand of the latest snapshot in the caller's feed: a new demand
    created on the numéro after a deletion does not inherit it. The
    latest declaration of a criterion is in force from now on. 201 when recorded, 200
    when the same ``declarationId`` was recorded before with the same content, 409 when
    it was used for another."""
    await ctx.require_holder(actor, num_unique)
    if not declarable_by(actor.profile, body.critere):
        # the same answer for a withheld criterion and an unknown code (module doc)
        raise ForbiddenError(
            f"profile {actor.profile} declares only the criteria it reads "
            f"({', '.join(sorted(PUBLIC_DECLARED))}): {body.critere} refused"
        )
    today = paris_today()
    check_declarable(body.epci, body.critere, today)
    stores = _stores(request)
    # the life declared for; unknown without a snapshot (retention): hub.domain.cotation.lives
    found = await stores.snapshots.latest(actor.id, num_unique)
    new = NewDeclaration(
        num_unique=num_unique,
        epci=body.epci,
        critere=body.critere,
        valeur=body.valeur,
        auteur=actor.id,
        date_declaration=today,
        commentaire=body.commentaire,
        declaration_id=body.declarationId,
        demande_creee=None if found is None else faits.date_creation(found[0]),
    )
    stored, created = await run_in_threadpool(stores.declarations.declare, new)
    out = DeclarationRecorded(created=created, declaration=stored)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)
