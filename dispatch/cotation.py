"""The demand's score in its feed records (issue 20 points 2–3; docs/cotation.md, "The
score in the feed").

:class:`Scoring` turns a demand state into the ``cotations`` field of a FeedRecord: one
entry per EPCI of the demand's wished communes whose grid is in force on the record's
*reference day*, computed by the pure :func:`hub.domain.cotation.score` with

* the **declarations** of a port ``(numéro, EPCI, cutoff ms, dateCreationDemande) ->
  {criterion: Declaration}`` giving those of the demand's life recorded at or before the
  cutoff — the record's ``occurredAt``, so a
  replayed record reads what the original read (:mod:`dispatch.declarations`);
* the **quartile thresholds** of a port ``EPCI -> SeuilsQuartiles | None`` (None: the
  population criteria are ``indetermine``): the worker passes the statistics store's,
  cached (:mod:`dispatch.scoring_ports`); :func:`no_seuils` by default.

The reference day is the latest of the Paris day of the record's ``occurredAt``, the
Paris day of the state's last event and the day of the demand's *cotation clock*
(:func:`clock_day`: the latest day a record of the demand was scored on — a
time-criterion change the clock sent, an event's day, a notice's due day —, kept in the
state's ``noticesSent`` as ``cotation:<day>`` and never moved back: :func:`scored_on`),
so a record never shows a score older than one already sent (audit N, N6: a notice sent
late carries the current score, not its past due day's).

**Time criteria** (18 months of seniority, the applicant's age thresholds, a child's
birth or 18th birthday, a household member's birth or 14th birthday for the consumption
units, a grid's validity dates) change the score with no event: :meth:`Scoring.next_change`
gives the next day one of them may change it, from the snapshot and the grids alone;
:mod:`dispatch.deadlines` keeps a due entry for it and sends an ``AVIS`` (reason
``cotation``) when the score did change on that day (:meth:`Scoring.changed`).

The processor reaches the scoring through :func:`installed` (set once per worker by
:func:`install`): :func:`dispatch.feed.feed_record` has no other way to it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from hub.core.errors import UnknownCommuneError
from hub.domain.actors import Actor
from hub.domain.cotation import (
    Declaration,
    Grilles,
    Score,
    SeuilsQuartiles,
    faits,
    score,
    shipped_grids,
)
from hub.domain.cotation.grid import Grille, RegleAge, RegleAnciennete, RegleMotif, RegleQuartile
from hub.domain.geo import Geography, get_geography
from hub.domain.state import DemandeState, wished_communes

#: the threshold code of a time-criterion change, and the reason of its AVIS record
COTATION = "cotation"
#: the prefix of the cotation clock's token in ``DemandeState.notices_sent``
TOKEN = COTATION + ":"
PARIS = ZoneInfo("Europe/Paris")

#: states whose candidate days are kept (a few hundred kB)
_DAYS_KEPT = 4096

DeclarationsPort = Callable[[str, str, int, dt.date | None], Mapping[str, Declaration]]
SeuilsPort = Callable[[str], SeuilsQuartiles | None]


def no_declarations(num_unique: str, epci: str, cutoff_ms: int,
                    created: dt.date | None = None) -> Mapping[str, Declaration]:  # fmt: skip
    return {}


def no_seuils(epci: str) -> SeuilsQuartiles | None:
    """A quartile thresholds port that knows none (the default)."""
    return None


@functools.lru_cache(maxsize=4096)
def paris_day(ms: int) -> dt.date:
    """The Europe/Paris day of an epoch-ms instant."""
    return dt.datetime.fromtimestamp(ms / 1000, PARIS).date()


def clock_day(state: DemandeState) -> dt.date | None:
    """The day of the last time-criterion change the clock sent for ``state``."""
    for token in state.notices_sent:
        if token.startswith(TOKEN):
            return faits.parse_date(token[len(TOKEN) :])
    return None


def with_clock(state_tokens: Iterable[str], day: dt.date) -> tuple[str, ...]:
    """``noticesSent`` tokens with the cotation clock moved to ``day``."""
    return (*(t for t in state_tokens if not t.startswith(TOKEN)), TOKEN + day.isoformat())


def scored_on(state_tokens: tuple[str, ...], day: dt.date) -> tuple[str, ...]:
    """``noticesSent`` tokens with the cotation clock moved to ``day`` when later (a
    record scored on ``day`` was sent): the clock never goes back."""
    for token in state_tokens:
        if token.startswith(TOKEN):
            kept = faits.parse_date(token[len(TOKEN) :])
            if kept is not None and kept >= day:
                return state_tokens
    return with_clock(state_tokens, day)


def _signature(s: Score) -> tuple[Any, ...]:
    return (s.version, s.total, s.hors_cotation,
            tuple((d.code, d.statut, d.points) for d in s.detail))  # fmt: skip


def to_avro(s: Score) -> dict[str, Any]:
    """One ``Cotation`` of the FeedRecord: the criteria met or undetermined (the others of
    the grid are ``non_rempli``)."""
    return {
        "epci": s.epci,
        "versionGrille": s.version,
        "dateReference": s.at.isoformat(),
        "total": s.total,
        "horsCotation": s.hors_cotation,
        "maximum": s.maximum,
        "criteres": [
            {
                "code": d.code,
                "statut": d.statut,
                "points": d.points,
                "declarePar": d.declaration.auteur if d.declaration is not None else None,
            }
            for d in s.detail
            if d.statut != "non_rempli"
        ],
    }


class Scoring:
    """Scores of demands under the grids of their EPCIs (module doc)."""

    def __init__(self, grids: Grilles | None = None, geography: Geography | None = None,
                 declarations: DeclarationsPort = no_declarations,
                 seuils: SeuilsPort = no_seuils) -> None:  # fmt: skip
        self.grids = grids if grids is not None else shipped_grids()
        self.geography = geography if geography is not None else get_geography()
        self.declarations = declarations
        self.seuils = seuils
        self._last: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self._time_rules: dict[str, _Times] = {}
        #: candidate days of recent snapshots, by (numéro, event id), oldest first
        self._days: dict[tuple[str, str], tuple[dt.date, ...]] = {}

    def epcis(self, demande: dict[str, Any] | None) -> list[str]:
        """The EPCIs of the wished communes (today's codes, wish order) having a grid."""
        out: list[str] = []
        for code in wished_communes(demande):
            try:
                epci = self.geography.commune(self.geography.resolve(code)).epci
            except UnknownCommuneError:
                continue
            if epci is not None and epci in self.grids.by_epci and epci not in out:
                out.append(epci)
        return out

    def scores(self, num_unique: str, demande: dict[str, Any] | None, day: dt.date,
               cutoff_ms: int) -> list[Score]:  # fmt: skip
        """The score under each grid in force on ``day``, declarations as of ``cutoff_ms``."""
        out: list[Score] = []
        for epci in self.epcis(demande):
            grid = self.grids.en_vigueur(epci, day)
            if grid is not None and demande is not None:
                declared = self.declarations(num_unique, epci, cutoff_ms,
                                             faits.date_creation(demande))  # fmt: skip
                out.append(score(demande, grid, declared, day, self.seuils(epci)))
        return out

    def reference_day(self, state: DemandeState, occurred_at: int) -> dt.date:
        """The day a record of ``state`` that occurred at ``occurred_at`` is scored on: the
        latest of its own Paris day, the cotation clock's (the last day a record of the
        demand was scored on) and the state's last event's (module doc)."""
        day, clock = paris_day(occurred_at), clock_day(state)
        return max(d for d in (day, clock, paris_day(state.occurred_at)) if d is not None)

    def cotations(self, state: DemandeState, occurred_at: int) -> list[dict[str, Any]]:
        """The ``cotations`` of a record of ``state`` that occurred at ``occurred_at``
        (the last answer is kept: an emission asks once per profile)."""
        day = self.reference_day(state, occurred_at)
        key = (state.num_unique, id(state.demande), state.version, day, occurred_at)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        # declarations as of the record, or of the state's last event when later (a late
        # notice counts those its demand's last record counted: N6)
        cutoff = max(occurred_at, state.occurred_at)
        found = [to_avro(s) for s in self.scores(state.num_unique, state.demande, day,
                                                 cutoff)]  # fmt: skip
        self._last = (key, found)
        return found

    def changed(self, state: DemandeState, day: dt.date, cutoff_ms: int) -> list[str]:
        """The EPCIs whose score of ``state`` differs on ``day`` from the day before (same
        declarations and thresholds: only time moved)."""
        before = {s.epci: _signature(s) for s in self.scores(
            state.num_unique, state.demande, day - dt.timedelta(days=1), cutoff_ms)}  # fmt: skip
        after = {s.epci: _signature(s) for s in self.scores(
            state.num_unique, state.demande, day, cutoff_ms)}  # fmt: skip
        return sorted(e for e in before.keys() | after.keys() if before.get(e) != after.get(e))

    def next_change(self, demande: dict[str, Any] | None, after: dt.date,
                    key: tuple[str, str] | None = None) -> dt.date | None:  # fmt: skip
        """The first day after ``after`` on which time alone may change the demand's score
        under one of its EPCIs' grids (None: never). ``key``: the state's (numéro, last
        event id), which fixes its snapshot: the candidate days are then computed once per
        snapshot, not at each of its state's writes (a state is written, then read as the
        next one's prior)."""
        days = self._days.get(key) if key is not None else None
        if days is None:
            days = tuple(sorted(set(self._candidates(demande))))
            if key is not None:
                if len(self._days) >= _DAYS_KEPT:
                    self._days.pop(next(iter(self._days)))
                self._days[key] = days
        return next((d for d in days if d > after), None)

    def _candidates(self, demande: dict[str, Any] | None) -> Iterable[dt.date]:
        epcis = self.epcis(demande)
        if demande is None or not epcis:
            return
        person = faits.personne(demande) or {}
        born = faits.naissance_demandeur(demande)
        created = faits.date_creation(demande)
        for epci in epcis:
            t = self._times(epci)
            yield from t.bounds
            if created is not None:
                yield from (faits.add_months(created, m) for m in t.mois)
            if born is not None and t.ages:
                yield born  # an age is undetermined before the birth date
                yield from (faits.add_months(born, 12 * y) for y in t.ages)
            if t.minors:  # a child's birth and 18th birthday
                for key in ("listePersonneACharge", "listePersonneEnGarde"):
                    for day in _births(person.get(key)):
                        yield day
                        yield faits.add_months(day, 12 * faits.AGE_MAJORITE)
            if t.quartile:  # a member's birth (0.3 from that day) and 14th birthday (0.5)
                for key in ("listeCotitulaire", "listePersonneACharge"):
                    for day in _births(person.get(key)):
                        yield day
                        yield faits.add_months(day, 12 * faits.AGE_UC_ADULTE)

    def _times(self, epci: str) -> _Times:
        found = self._time_rules.get(epci)
        if found is None:
            found = self._time_rules[epci] = _Times.of(self.grids.by_epci[epci])
        return found


@dataclass(frozen=True, slots=True)
class _Times:
    """What in an EPCI's grids depends on time (read once per EPCI, not per demand)."""

    bounds: tuple[dt.date, ...]  #: days a grid comes into or goes out of force
    mois: tuple[int, ...]  #: seniority thresholds, months
    ages: tuple[int, ...]  #: the applicant's age thresholds, years
    minors: bool  #: a rule needs a minor child
    quartile: bool  #: a rule reads the resources per consumption unit

    @classmethod
    def of(cls, grids: Iterable[Grille]) -> _Times:
        bounds: set[dt.date] = set()
        mois: set[int] = set()
        ages: set[int] = set()
        minors = quartile = False
        for grid in grids:
            if grid.valide_du is not None:
                bounds.add(grid.valide_du)
            if grid.valide_au is not None:
                bounds.add(grid.valide_au + dt.timedelta(days=1))
            for critere in grid.criteres:
                rule = critere.regle
                if isinstance(rule, RegleAnciennete):
                    mois.add(rule.mois)
                elif isinstance(rule, RegleAge):
                    ages.update(y for y in (rule.moins_de, rule.au_moins) if y is not None)
                elif isinstance(rule, RegleMotif):
                    minors = minors or rule.avec_enfant_mineur
                elif isinstance(rule, RegleQuartile):
                    quartile = True
        return cls(tuple(sorted(bounds)), tuple(sorted(mois)), tuple(sorted(ages)), minors,
                   quartile)  # fmt: skip


def _births(value: Any) -> Iterable[dt.date]:
    for item in value if isinstance(value, list) else ():
        born = faits.parse_date(item.get("dateNaissance")) if isinstance(item, Mapping) else None
        if born is not None:
            yield born


def covers(actor: Actor | None, epci: str, geography: Geography) -> bool:
    """Whether ``actor``'s territory holds a commune of ``epci``: the EPCI itself, one of
    its communes (an arrondissement or a former code counts for its commune), or its
    département. An actor not in the index covers nothing. Asked per recipient of every
    scored record: answered once per territory and EPCI (cached, like the territorial
    index's commune keys)."""
    if actor is None:
        return False
    f = actor.filters
    return _covers(tuple(f.epcis), tuple(f.communes), tuple(f.departements), epci, geography)


@lru_cache(maxsize=16384)
def _covers(epcis: tuple[str, ...], communes: tuple[str, ...], departements: tuple[str, ...],
            epci: str, geography: Geography) -> bool:  # fmt: skip
    if epci in epcis:
        return True
    for code in communes:
        try:
            if geography.commune(geography.resolve(code)).epci == epci:
                return True
        except UnknownCommuneError:
            continue
    deps = set(departements)
    return bool(deps) and any(
        geography.commune(c).departement in deps for c in geography.communes_of_epci(epci)
    )


def scope(actor: Actor | None, scoring: Scoring, demande: dict[str, Any] | None) -> frozenset[str]:
    """The EPCIs of ``demande`` whose scores ``actor`` receives: those it covers
    (:meth:`dispatch.processor.Processor._emit` cuts each record's ``cotations`` to them;
    docs/cotation.md)."""
    return frozenset(e for e in scoring.epcis(demande) if covers(actor, e, scoring.geography))


_installed: Scoring | None = None


def install(scoring: Scoring | None) -> None:
    """Make ``scoring`` the one feed records of this process use (None: no cotations)."""
    global _installed
    _installed = scoring


def installed() -> Scoring | None:
    return _installed
