"""The statistics' facts (``stat_demandes``, ``stat_demande_epcis``) on SQLite or PostgreSQL.

Contracts:

* :meth:`StatisticsStore.write` applies a batch of :class:`Change` in one transaction: a
  fact replaces the demand's row and its EPCI rows, ``None`` (a ``SUP``) replaces them by
  a *deletion marker* (:func:`marker_row`); each change carries the demand's
  :class:`~hub.domain.statistics_facts.Mark`, read back by :meth:`priors` (the fold's
  idempotence: the marker keeps a deleted demand's event ids, so the same events
  published again stay duplicates). A database outage is a
  :class:`~hub.core.errors.TransientError` (nothing written).
* **A write is conditional on the marks its fold read** (``read``): inside the write
  transaction, every other writer of the facts held off (PostgreSQL: the table locked
  ``SHARE ROW EXCLUSIVE``, which plain readers pass; SQLite: ``BEGIN IMMEDIATE``, one
  writer at a time), the stored marks of the changed demands are read again; if one is
  not the mark the fold read (another fold wrote the demand since, or the purge deleted
  it), nothing is written and :class:`StaleMarks` is raised: two folds overlapping on a
  partition (a rebalance, two groups on one database) never write an older fact over a
  newer one, nor insert the same demand twice.
* A deletion marker is no demand for any reader: no territory (commune, EPCI and
  département null, so no territorial query selects it), no EPCI row, not active, and no
  radiation date (a radiated row always has one: that tells a marker apart).
* The readers return plain :class:`~hub.domain.statistics.Fait`; the secrecy rule is the
  domain's, applied on what they return (:mod:`hub.domain.statistics`).
* :meth:`seuils` is the quartile port (:class:`~hub.domain.statistics.SeuilsSource`): the
  thresholds of the resources per consumption unit of the active demands wishing the EPCI,
  None below 11 known values.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.exc import OperationalError

from hub.core.db import write_transaction
from hub.core.errors import TransientError
from hub.domain.cotation import SeuilsQuartiles
from hub.domain.geo import Geography, get_geography
from hub.domain.geo_components import current_of, stored_codes
from hub.domain.statistics import (
    ATTRIBUTIONS,
    AUTRES,
    NOUVELLES,
    RADATT,
    STOCK,
    Fait,
    Niveau,
    seuils_population,
)
from hub.domain.statistics_facts import Mark
from hub.stores.statistics.tables import stat_demande_epcis as epcis
from hub.stores.statistics.tables import stat_demandes as demandes

#: numéros read per query when looking marks up
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Change:
    """The demand ``num_unique`` after one event: its fact, or None when deleted (then
    the row keeps only ``mark``: a deletion marker); with a fact, its renewal cycle as the
    dispatch worker reckons it: ``renouvellement`` the clock's renewal token (``''``:
    none), ``debut_cycle`` the cycle's start (hub.domain.decisions.cycle_start)."""

    num_unique: str
    fait: Fait | None
    mark: Mark
    renouvellement: str | None = None
    debut_cycle: date | None = None


@dataclass(frozen=True, slots=True)
class Prior:
    """A demand as last folded: its mark, its département, whether it is a demand
    (active or radiated) rather than a deletion marker (a creation is refused on one),
    and for a radiated one its motive and creation date (what may bring it back:
    hub.domain.decisions.check_revival); its renewal cycle (:class:`Change`; both None
    on a row written before migration 0016: the cycle is unknown)."""

    mark: Mark
    departement: str | None
    live: bool = True
    radiated: bool = False
    motif_radiation: str | None = None
    date_creation: date | None = None
    renouvellement: str | None = None
    debut_cycle: date | None = None


class StaleMarks(Exception):
    """The stored marks of a batch's demands are no longer those its fold read: another
    writer changed them since (:meth:`StatisticsStore.write`); nothing was written."""

    def __init__(self, nums: list[str]) -> None:
        super().__init__(f"{len(nums)} demand(s) written by another fold since read")
        self.nums = nums


@contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {type(exc.orig).__name__}") from None


def _mark(row: Any) -> Mark:
    ids = tuple(str(x) for x in json.loads(row.recent_event_ids))
    return Mark(row.last_partition, row.last_offset, ids)


def _marks(change: Change) -> dict[str, Any]:
    return {
        "last_partition": change.mark.partition,
        "last_offset": change.mark.offset,
        "recent_event_ids": json.dumps(list(change.mark.recent_event_ids)),
        "updated_at": datetime.now(UTC),
    }


def marker_row(change: Change) -> dict[str, Any]:
    """The row a deleted demand leaves: its marks only (module doc)."""
    return {"num_unique": change.num_unique, "commune": None, "epci": None,
            "departement": None, "typologies": "", "date_creation": None, "active": False,
            "date_radiation": None, "motif_radiation": None, "ressources_uc": None,
            "renouvellement": None, "debut_cycle": None, **_marks(change)}  # fmt: skip


def _row(change: Change) -> dict[str, Any]:
    f = change.fait
    if f is None:
        return marker_row(change)
    return {
        "num_unique": f.num_unique,
        "commune": f.commune,
        "epci": f.epci,
        "departement": f.departement,
        "typologies": ",".join(f.typologies)[:64],
        "date_creation": f.date_creation,
        "active": f.active,
        "date_radiation": f.date_radiation,
        "motif_radiation": f.motif_radiation,
        "ressources_uc": f.ressources_uc,
        "renouvellement": change.renouvellement,
        "debut_cycle": change.debut_cycle,
        **_marks(change),
    }


def _fait(row: Any, scores: dict[str, int] | None = None) -> Fait:
    return Fait(
        num_unique=row.num_unique,
        commune=row.commune,
        epci=row.epci,
        departement=row.departement,
        typologies=tuple(t for t in row.typologies.split(",") if t),
        date_creation=row.date_creation,
        active=bool(row.active),
        date_radiation=row.date_radiation,
        motif_radiation=row.motif_radiation,
        ressources_uc=row.ressources_uc,
        scores=scores or {},
    )


class StatisticsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def priors(self, nums: Iterable[str]) -> dict[str, Prior]:
        """Where each of ``nums`` was last folded, and its département (absent: never
        folded; a deleted demand's marker answers its marks and no département)."""
        wanted = sorted(set(nums))
        found: dict[str, Prior] = {}
        cols = (
            demandes.c.num_unique,
            demandes.c.last_partition,
            demandes.c.last_offset,
            demandes.c.recent_event_ids,
            demandes.c.departement,
            demandes.c.active,
            demandes.c.date_radiation,
            demandes.c.motif_radiation,
            demandes.c.date_creation,
            demandes.c.renouvellement,
            demandes.c.debut_cycle,
        )
        with _guard(), self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = select(*cols).where(demandes.c.num_unique.in_(wanted[i : i + _CHUNK]))
                for r in conn.execute(q):
                    mark = _mark(r)
                    live = bool(r.active) or r.date_radiation is not None  # module doc
                    radiated = not r.active and r.date_radiation is not None
                    found[r.num_unique] = Prior(mark, r.departement, live, radiated,
                                                r.motif_radiation, r.date_creation,
                                                r.renouvellement, r.debut_cycle)  # fmt: skip
        return found

    def write(self, changes: list[Change], read: Mapping[str, Mark] | None = None) -> None:
        """Apply ``changes`` in order, in one transaction (module doc). With ``read`` (the
        marks the fold read of the changed demands; absent: no row then), only if the
        stored marks are still those, else :class:`StaleMarks` and nothing written."""
        if not changes:
            return
        with _guard(), write_transaction(self.engine) as conn:
            if read is not None:
                nums = sorted({c.num_unique for c in changes})
                stored = self._locked_marks(conn, nums)
                stale = [n for n in nums if stored.get(n) != read.get(n)]
                if stale:
                    raise StaleMarks(stale)
            for change in changes:
                self._apply(conn, change)

    @staticmethod
    def _locked_marks(conn: Connection, nums: list[str]) -> dict[str, Mark]:
        """The stored marks of ``nums``, read once no other writer can change them until
        this transaction ends (module doc)."""
        if conn.dialect.name == "postgresql":
            # the table, not the rows: a demand never folded has no row to lock, and two
            # folds inserting it would meet on its unique key
            conn.execute(text(f"LOCK TABLE {demandes.name} IN SHARE ROW EXCLUSIVE MODE"))
        cols = (demandes.c.num_unique, demandes.c.last_partition, demandes.c.last_offset,
                demandes.c.recent_event_ids)  # fmt: skip
        found: dict[str, Mark] = {}
        for i in range(0, len(nums), _CHUNK):
            q = select(*cols).where(demandes.c.num_unique.in_(nums[i : i + _CHUNK]))
            for r in conn.execute(q):
                found[r.num_unique] = _mark(r)
        return found

    @staticmethod
    def _apply(conn: Connection, change: Change) -> None:
        num = change.num_unique
        conn.execute(delete(epcis).where(epcis.c.num_unique == num))
        conn.execute(delete(demandes).where(demandes.c.num_unique == num))
        conn.execute(insert(demandes).values(**_row(change)))
        f = change.fait
        if f is None:  # deleted: its marker only
            return
        rows = [
            {"num_unique": num, "epci": e, "rang": i, "score": f.scores.get(e)}
            for i, e in enumerate(f.epcis_souhaites)
        ]
        if rows:
            conn.execute(insert(epcis), rows)

    def is_empty(self) -> bool:
        """No demand folded at all (``hub stats fold`` never ran, or over nothing)."""
        with _guard(), self.engine.connect() as conn:
            return conn.execute(select(demandes.c.num_unique).limit(1)).first() is None

    def faits(self, niveau: Niveau, code: str) -> list[Fait]:
        """The facts of the demands whose first wished commune lies in ``code`` **as
        stored by the fold** (its territory of the day it folded), whole (their wished EPCIs
        in wish order and their scores): the fold's own checks. The published figures read
        :meth:`faits_of`, placed where today's geography puts each stored commune
        (hub.services.statistics.territory)."""
        column = {
            "commune": demandes.c.commune,
            "epci": demandes.c.epci,
            "departement": demandes.c.departement,
        }[niveau]
        wished = (
            select(epcis)
            .join(demandes, epcis.c.num_unique == demandes.c.num_unique)
            .where(column == code)
            .order_by(epcis.c.num_unique, epcis.c.rang)
        )
        with _guard(), self.engine.connect() as conn:
            rows = conn.execute(select(demandes).where(column == code)).all()
            by_num: dict[str, list[Any]] = {}
            for w in conn.execute(wished):
                by_num.setdefault(w.num_unique, []).append(w)
        out = []
        for r in rows:
            mine = by_num.get(r.num_unique, [])
            scores = {w.epci: int(w.score) for w in mine if w.score is not None}
            fait = _fait(r, scores)
            out.append(replace(fait, epcis_souhaites=tuple(w.epci for w in mine)))
        return out

    def series_counts(
        self, communes: Iterable[str], mois: Iterable[str]
    ) -> dict[tuple[str, str], Counter[str]]:
        """Each additive series' count per stored commune code (the stock, and per month of
        ``mois`` the new, attributed and otherwise radiated demands) over the demands whose
        first wished commune is stored as one of ``communes``: what
        :func:`hub.domain.statistics_series.series_counts` computes from the facts,
        aggregated by the database (no fact leaves it)."""
        codes = sorted(set(communes))
        months = sorted(set(mois))
        out: dict[tuple[str, str], Counter[str]] = {}
        if not codes or not months:
            return out
        first = date.fromisoformat(months[0] + "-01")
        last_year, last_month = (int(x) for x in months[-1].split("-"))
        after = date(last_year + last_month // 12, last_month % 12 + 1, 1)
        here = demandes.c.commune.in_(codes)

        def month_of(col: Any) -> Any:
            return (
                func.extract("year", col).label("y"),
                func.extract("month", col).label("m"),
            )

        stock = (
            select(demandes.c.commune, func.count())
            .where(here, demandes.c.active.is_(True), demandes.c.commune.is_not(None))
            .group_by(demandes.c.commune)
        )
        created = demandes.c.date_creation
        nouvelles = (
            select(demandes.c.commune, *month_of(created), func.count())
            .where(here, demandes.c.commune.is_not(None), created >= first, created < after)
            .group_by(demandes.c.commune, "y", "m")
        )
        radiated = demandes.c.date_radiation
        attributed = func.coalesce(demandes.c.motif_radiation == RADATT, False).label("att")
        radiees = (
            select(demandes.c.commune, *month_of(radiated), attributed, func.count())
            .where(
                here,
                demandes.c.commune.is_not(None),
                demandes.c.active.is_(False),
                radiated >= first,
                radiated < after,
            )
            .group_by(demandes.c.commune, "y", "m", "att")
        )
        wanted = set(months)

        def add(kind: str, y: Any, m: Any, commune: str, n: int) -> None:
            month = f"{int(y):04d}-{int(m):02d}"
            if month in wanted:
                out.setdefault((kind, month), Counter())[commune] += int(n)

        with _guard(), self.engine.connect() as conn:
            for commune, n in conn.execute(stock):
                out.setdefault((STOCK, ""), Counter())[commune] += int(n)
            for row in conn.execute(nouvelles):
                add(NOUVELLES, row[1], row[2], row[0], row[3])
            for row in conn.execute(radiees):
                add(ATTRIBUTIONS if row[3] else AUTRES, row[1], row[2], row[0], row[4])
        return out

    def faits_of(self, communes: Iterable[str]) -> list[Fait]:
        """The facts (without their wished EPCIs) of the demands whose first wished commune
        is stored as one of ``communes``."""
        codes = sorted(set(communes))
        if not codes:
            return []
        with _guard(), self.engine.connect() as conn:
            rows = conn.execute(select(demandes).where(demandes.c.commune.in_(codes))).all()
        return [_fait(r) for r in rows]

    def faits_epci(self, epci: str) -> list[Fait]:
        """The facts of the demands wishing ``epci`` (any wish), each with its score there
        (``scores`` holds ``epci`` only, when scored) and ``epcis_souhaites`` = (epci,)."""
        q = (
            select(demandes, epcis.c.score)
            .join(epcis, epcis.c.num_unique == demandes.c.num_unique)
            .where(epcis.c.epci == epci)
        )
        with _guard(), self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            f = _fait(r, {} if r.score is None else {epci: int(r.score)})
            out.append(replace(f, epcis_souhaites=(epci,)))
        return out

    def ressources_epci(self, epci: str) -> list[float]:
        """The known resources per consumption unit of the active demands wishing ``epci``."""
        q = (
            select(demandes.c.ressources_uc)
            .join(epcis, epcis.c.num_unique == demandes.c.num_unique)
            .where(
                epcis.c.epci == epci,
                demandes.c.active.is_(True),
                demandes.c.ressources_uc.is_not(None),
            )
        )
        with _guard(), self.engine.connect() as conn:
            return [float(v) for (v,) in conn.execute(q)]

    def seuils(self, epci: str) -> SeuilsQuartiles | None:
        """The quartile thresholds of ``epci`` (None: fewer than 11 known values)."""
        return seuils_population(self.ressources_epci(epci))

    __call__ = seuils

    def stock_actif(self, departements: Iterable[str]) -> dict[str, int]:
        """Active demands per département, for ``departements``, each demand counted where
        today's geography puts its stored commune (as the API's figures: audit U, U-F1)."""
        wanted = sorted(set(departements))
        if not wanted:
            return {}
        geo = get_geography()
        codes = stored_codes(geo, [c for d in wanted for c in geo.communes_of_departement(d)])
        found = self._by_departement(geo, demandes.c.commune.in_(sorted(codes)))
        return {d: found.get(d, 0) for d in wanted}

    def stock_actif_all(self) -> dict[str, int]:
        """Active demands of every département that has one (a scan: at start only)."""
        return self._by_departement(get_geography(), demandes.c.commune.is_not(None))

    def _by_departement(self, geo: Geography, where: Any) -> dict[str, int]:
        q = (
            select(demandes.c.commune, func.count())
            .where(demandes.c.active.is_(True), where)
            .group_by(demandes.c.commune)
        )
        out: dict[str, int] = {}
        with _guard(), self.engine.connect() as conn:
            for commune, n in conn.execute(q):
                current = current_of(geo, commune)
                if current is not None:
                    dep = geo.commune(current).departement
                    out[dep] = out.get(dep, 0) + int(n)
        return out
