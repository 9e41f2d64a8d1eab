"""The gestion partagée record: append-only, SQLAlchemy (SQLite or PostgreSQL).

Contracts:

* :meth:`GPStore.append` stores one ``EvenementGP`` record with who (``auteur``), when
  (``recorded_at``) and what (the record). Appending the same ``eventId`` again with the
  same content returns the stored record (idempotent retry); with different content it
  raises :class:`ConflictError`. Rows are never updated nor deleted (the database refuses
  it with triggers, see migration 0002), except by ``hub purge`` for a demand radiated or
  deleted more than a year ago (the marked path of migration 0012).
* Two appends of one ``eventId`` at once (two requests, two ``hub api`` on one database)
  answer as if one came after the other: the later ``INSERT`` meets the earlier one's row
  on the unique ``event_id`` (``ON CONFLICT DO NOTHING``: PostgreSQL waits for that
  transaction's commit; SQLite's write transactions are exclusive), then reads and
  compares it like a retry (never "conflict" for the same content).
* A database that cannot be reached raises :class:`~hub.core.errors.TransientError`
  (:func:`~hub.core.db.transient_db_errors`).
* :meth:`GPStore.timeline` lists a demand's events in order of occurrence
  (``dateSurvenance``, then recording order).
* Every event :meth:`GPStore.append_all` creates is also *owed* to Kafka
  (``gp_unpublished``, same transaction) until :meth:`GPStore.mark_published` records
  Kafka's acknowledgement; :meth:`GPStore.unpublished` lists what is owed in store order.
* The catalogue in force is the latest stored version, or the seed when none is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from hub.core.db import dialect_insert, transient_db_errors, write_transaction
from hub.core.errors import ConflictError
from hub.domain.gp.catalogue import SEED, Catalogue
from hub.stores.gp.tables import gp_catalogues, gp_events, gp_unpublished

#: PostgreSQL advisory lock key of checked appends (see :meth:`GPStore.append_all`)
_CHECK_LOCK = 0x6770_6361_6C00  # "gpcal"


class GPStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store ``record``; return (stored record, created). See module doc."""
        return self.append_all([record])[0]

    def append_all(
        self, records: list[dict[str, Any]], check: Callable[[], None] | None = None
    ) -> list[tuple[dict[str, Any], bool]]:
        """Store ``records`` in one transaction (all or none); (stored, created) for each.

        ``check`` (e.g. the CAL rules, which read the stored histories) runs inside the
        transaction, before anything is written, one checked append at a time: SQLite's
        write transaction is exclusive, on PostgreSQL a transaction-scoped advisory lock
        serializes checked appends. So two concurrent batches cannot both pass a rule
        that the first one's records would make the second one break (e.g. two answers
        to one decision). An exception from ``check`` rolls the transaction back."""
        out: list[tuple[dict[str, Any], bool]] = []
        with transient_db_errors(), write_transaction(self.engine) as conn:
            if check is not None:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHECK_LOCK})
                check()
            for record in records:
                existing = self._by_id(conn, record["eventId"])
                if existing is not None:
                    out.append((self._same(existing, record), False))
                    continue
                now = datetime.now(UTC)
                seq = conn.execute(
                    dialect_insert(conn, gp_events)
                    .values(
                        event_id=record["eventId"],
                        num_unique=record["numUnique"],
                        code=record["codeTypeEvenement"],
                        catalogue_version=record["catalogueVersion"] or "",
                        date_survenance=record["dateSurvenance"],
                        auteur=record["auteur"],
                        recorded_at=now,
                        record=record,
                        a_publier=record["aPublierSurPGP"],
                    )
                    .on_conflict_do_nothing(index_elements=[gp_events.c.event_id])
                    .returning(gp_events.c.seq)
                ).scalar_one_or_none()
                if seq is None:  # a concurrent append of the same id committed it first
                    out.append((self._same(self._stored(conn, record["eventId"]), record), False))
                    continue
                conn.execute(  # owed to Kafka until acknowledged (module doc)
                    insert(gp_unpublished).values(
                        event_id=record["eventId"], seq=seq,
                        num_unique=record["numUnique"], stored_at=now,
                    )
                )  # fmt: skip
                out.append((record, True))
        return out

    @staticmethod
    def _same(existing: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        ignore = {"occurredAt", "catalogueVersion"}
        a = {k: v for k, v in existing.items() if k not in ignore}
        b = {k: v for k, v in record.items() if k not in ignore}
        if a != b:
            raise ConflictError(f"event {record['eventId']} was recorded with other content")
        return existing

    @classmethod
    def _stored(cls, conn: Connection, event_id: str) -> dict[str, Any]:
        """The stored record of an id whose INSERT met the row of a concurrent append: on
        PostgreSQL the INSERT waited for that transaction's commit, and this statement's
        snapshot (READ COMMITTED) sees it."""
        found = cls._by_id(conn, event_id)
        if found is None:  # the unique index says the row exists: it must be visible
            raise RuntimeError(f"event {event_id} conflicts but cannot be read")
        return found

    @staticmethod
    def _by_id(conn: Connection, event_id: str) -> dict[str, Any] | None:
        row = conn.execute(select(gp_events.c.record).where(gp_events.c.event_id == event_id))
        found = row.scalar_one_or_none()
        return dict(found) if found is not None else None

    def get(self, event_id: str) -> dict[str, Any] | None:
        with transient_db_errors(), self.engine.connect() as conn:
            return self._by_id(conn, event_id)

    def timeline(
        self, num_unique: str, *, published_only: bool = False, codes: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """A demand's events in order (see module doc)."""
        q = select(gp_events.c.record).where(gp_events.c.num_unique == num_unique)
        if published_only:
            q = q.where(gp_events.c.a_publier.is_(True))
        if codes:
            q = q.where(gp_events.c.code.in_(codes))
        q = q.order_by(gp_events.c.date_survenance, gp_events.c.seq)
        with transient_db_errors(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).scalars()]

    def decision_events(self, decision_id: str) -> list[dict[str, Any]]:
        """The stored ``DECISCAL`` records of one CAL decision (``DECISIONID``), on any
        demand. Reads the JSON record (no index: one scan of the DECISCAL rows)."""
        field = gp_events.c.record[("caracteristiques", "DECISIONID")].as_string()
        q = (
            select(gp_events.c.record)
            .where(gp_events.c.code == "DECISCAL", field == decision_id)
            .order_by(gp_events.c.seq)
        )
        with transient_db_errors(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).scalars()]

    # --- what Kafka has not acknowledged yet -------------------------------------------

    def unpublished(
        self, nums: Collection[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The stored records not acknowledged by Kafka yet, in store order; only those of
        the demands ``nums`` when given; at most ``limit``."""
        q = (
            select(gp_events.c.record)
            .join(gp_unpublished, gp_unpublished.c.seq == gp_events.c.seq)
            .order_by(gp_unpublished.c.seq)
        )
        if nums is not None:
            q = q.where(gp_unpublished.c.num_unique.in_(sorted(set(nums))))
        if limit is not None:
            q = q.limit(limit)
        with transient_db_errors(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).scalars()]

    def unpublished_demands(self, limit: int) -> list[str]:
        """Up to ``limit`` demands with an unacknowledged event, the one owed longest first."""
        first = func.min(gp_unpublished.c.seq)
        q = (
            select(gp_unpublished.c.num_unique)
            .group_by(gp_unpublished.c.num_unique)
            .order_by(first)
            .limit(limit)
        )
        with transient_db_errors(), self.engine.connect() as conn:
            return [str(n) for n in conn.execute(q).scalars()]

    def mark_published(self, event_ids: Collection[str]) -> None:
        """Record Kafka's acknowledgement of ``event_ids`` (those not owed: nothing)."""
        if not event_ids:
            return
        with transient_db_errors(), write_transaction(self.engine) as conn:
            conn.execute(
                delete(gp_unpublished).where(gp_unpublished.c.event_id.in_(sorted(event_ids)))
            )

    def unpublished_summary(self) -> tuple[int, datetime | None]:
        """(How many events Kafka has not acknowledged, when the oldest was stored)."""
        q = select(func.count(), func.min(gp_unpublished.c.stored_at))
        with transient_db_errors(), self.engine.connect() as conn:
            count, oldest = conn.execute(q).one()
        return int(count), oldest

    # --- catalogue versions -------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The catalogue in force (latest stored version, else the seed)."""
        q = select(gp_catalogues.c.content).order_by(gp_catalogues.c.created_at.desc()).limit(1)
        with transient_db_errors(), self.engine.connect() as conn:
            content = conn.execute(q).scalar_one_or_none()
        return Catalogue.model_validate(content) if content is not None else SEED

    def save_catalogue(self, catalogue: Catalogue, source: str) -> None:
        """Store a new version (its version string must be new)."""
        with transient_db_errors(), write_transaction(self.engine) as conn:
            exists = conn.execute(
                select(gp_catalogues.c.version).where(gp_catalogues.c.version == catalogue.version)
            ).first()
            if exists is not None:
                raise ConflictError(f"catalogue version {catalogue.version} already exists")
            conn.execute(
                insert(gp_catalogues).values(
                    version=catalogue.version,
                    created_at=datetime.now(UTC),
                    content=catalogue.model_dump(mode="json"),
                    source=source[:200],
                )
            )
