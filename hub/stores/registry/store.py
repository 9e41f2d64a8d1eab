"""The actor registry in the database: current actors, versions and their change log.

Contract of :class:`ActorStore`:

* the store assigns ``version`` and ``updated_at_ms``; those of the actors passed in are ignored;
* every change (add, update, remove, re-add) increases the actor's version by one and appends
  one ``actor_changes`` row in the same transaction; an upsert that changes nothing writes
  nothing and returns the stored actor as it was (so re-importing a file is a no-op);
* a removed actor is soft-deleted: its row, version and history stay, it is absent from
  :meth:`ActorStore.get` and :meth:`ActorStore.list`, and adding its id again continues
  its version sequence;
* removing an actor revokes its API keys in the same transaction (``api_keys``): a
  re-registration of the id — the same organisation or another — starts without keys,
  never with the former ones alive again (independent audit K, F11);
* each public method runs in one transaction; database outages and lost races (two writers
  adding the same new id) raise :class:`~hub.core.errors.TransientError`, safe to retry.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub.core.db import write_transaction
from hub.core.errors import NotFoundError, TransientError
from hub.domain.actors import Actor
from hub.stores.access.tables import api_keys
from hub.stores.registry.tables import ActorChangeRow, ActorRow

ChangeKind = Literal["add", "update", "remove"]
#: what a save or removal asks of the publisher: a change, or the stored version again
#: because Kafka never acknowledged it: ``resend`` (a registration), ``resend_remove`` (a
#: removal)
SaveKind = Literal["add", "update", "remove", "resend", "resend_remove"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class Saved(NamedTuple):
    """The stored actor after a write, and what the write did (``None``: nothing changed)."""

    actor: Actor
    change: SaveKind | None


class ActorState(NamedTuple):
    actor: Actor
    deleted: bool


@dataclass(frozen=True)
class ActorChange:
    """One entry of an actor's history: the registration as it was at that version."""

    seq: int
    actor_id: str
    version: int
    change: ChangeKind
    at: datetime
    actor: Actor
    deleted: bool


def _now() -> datetime:
    # truncated to the millisecond so that updated_at_ms round-trips through the database
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _to_ms(value: datetime) -> int:
    # SQLite hands back naive datetimes; everything is written in UTC
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MS


def _published(row: ActorRow) -> bool:
    return row.published_version is not None and row.published_version >= row.version


def _to_actor(row: ActorRow) -> Actor:
    return Actor.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "kind": row.kind,
            "profile": row.profile,
            "filters": row.filters,
            "delivery": {"channel": row.delivery_channel, "options": row.delivery_options},
            "enregistreur": row.enregistreur,
            "version": row.version,
            "updated_at_ms": _to_ms(row.updated_at),
        }
    )


def _content(actor: Actor) -> dict[str, Any]:
    return actor.model_dump(mode="json", exclude={"version", "updated_at_ms"})


class ActorStore:
    """Actors persisted through ``engine`` (schema created by :func:`hub.core.db.migrate`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with write_transaction(self._engine) as conn, Session(bind=conn) as session:
                yield session
                session.flush()
        except IntegrityError as exc:
            raise TransientError(
                f"concurrent change to the actor registry, retry: {_line(exc)}"
            ) from exc
        except OperationalError as exc:
            raise TransientError(f"actor registry database unavailable: {_line(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with Session(self._engine) as session, session.begin():
                yield session
        except OperationalError as exc:
            raise TransientError(f"actor registry database unavailable: {_line(exc)}") from exc

    def upsert(self, actor: Actor) -> Actor:
        """Add or update ``actor``; return it as stored (unchanged if the content is the same)."""
        return self.save(actor).actor

    def save(self, actor: Actor) -> Saved:
        """:meth:`upsert` that also says whether it added, updated or left the actor as is."""
        return self.save_all([actor])[0]

    def save_all(self, actors: Sequence[Actor]) -> builtins.list[Saved]:
        """Upsert every actor in one transaction: all are saved or none (an atomic import)."""
        with self._write() as session:
            return [self._save(session, actor) for actor in actors]

    def _save(self, session: Session, actor: Actor) -> Saved:
        # FOR UPDATE: concurrent writers of the same actor queue up (no-op on SQLite, whose
        # write transactions are already serialised by BEGIN IMMEDIATE)
        row = session.scalars(
            select(ActorRow).where(ActorRow.id == actor.id).with_for_update()
        ).one_or_none()
        now = _now()
        if row is None:
            row = ActorRow(id=actor.id, version=0, created_at=now)
            session.add(row)
            change: ChangeKind = "add"
        elif row.deleted_at is not None:
            change = "add"
        elif _content(_to_actor(row)) == _content(actor):
            return Saved(_to_actor(row), None if _published(row) else "resend")
        else:
            change = "update"
        row.name, row.kind, row.profile = actor.name, actor.kind, actor.profile
        row.filters = actor.filters.model_dump(mode="json")
        row.delivery_channel = actor.delivery.channel
        row.delivery_options = dict(actor.delivery.options)
        row.enregistreur = actor.enregistreur
        row.version += 1
        row.updated_at, row.deleted_at = now, None
        stored = actor.model_copy(update={"version": row.version, "updated_at_ms": _to_ms(now)})
        self._log(session, stored, change, now)
        return Saved(stored, change)

    def remove(self, actor_id: str) -> Actor:
        """Soft-delete the actor and revoke its API keys; return it with its new version.
        NotFoundError if absent or removed already."""
        saved = self.remove_or_resend(actor_id)
        if saved.change != "remove":
            raise NotFoundError(f"no actor {actor_id!r}")
        return saved.actor

    def remove_or_resend(self, actor_id: str) -> Saved:
        """:meth:`remove`, or, for an actor removed already whose removal never reached
        Kafka, that removal again (``resend_remove``, same version). NotFoundError otherwise."""
        with self._write() as session:
            row = session.scalars(
                select(ActorRow).where(ActorRow.id == actor_id).with_for_update()
            ).one_or_none()
            if row is not None and row.deleted_at is not None and not _published(row):
                return Saved(_to_actor(row), "resend_remove")
            if row is None or row.deleted_at is not None:
                raise NotFoundError(f"no actor {actor_id!r}")
            now = _now()
            row.version += 1
            row.updated_at = row.deleted_at = now
            removed = _to_actor(row)
            self._log(session, removed, "remove", now)
            session.execute(
                update(api_keys)
                .where(api_keys.c.actor_id == actor_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return Saved(removed, "remove")

    def mark_published(self, actors: Sequence[Actor]) -> None:
        """Kafka acknowledged these versions (never moves a version back: a later save may
        have been published by another process meanwhile)."""
        if not actors:
            return
        with self._write() as session:
            for actor in actors:
                session.execute(
                    update(ActorRow)
                    .where(ActorRow.id == actor.id)
                    .where(
                        (ActorRow.published_version.is_(None))
                        | (ActorRow.published_version < actor.version)
                    )
                    .values(published_version=actor.version)
                )

    def unpublished(self) -> builtins.list[ActorState]:
        """The actors whose current version (removal included) Kafka never acknowledged."""
        with self._read() as session:
            rows = session.scalars(select(ActorRow).order_by(ActorRow.id))
            return [ActorState(_to_actor(r), r.deleted_at is not None)
                    for r in rows if not _published(r)]  # fmt: skip

    @staticmethod
    def _log(session: Session, actor: Actor, change: ChangeKind, at: datetime) -> None:
        # the actor row first: without an ORM relationship the unit of work does not know
        # that actor_changes references it (foreign key)
        session.flush()
        session.add(
            ActorChangeRow(
                actor_id=actor.id,
                version=actor.version,
                change=change,
                at=at,
                registration=actor.to_avro(deleted=change == "remove"),
            )
        )

    def get(self, actor_id: str, *, include_deleted: bool = False) -> Actor:
        """The stored actor; NotFoundError if it never existed or (by default) was removed."""
        with self._read() as session:
            row = session.get(ActorRow, actor_id)
            if row is None or (row.deleted_at is not None and not include_deleted):
                raise NotFoundError(f"no actor {actor_id!r}")
            return _to_actor(row)

    def states(self) -> builtins.list[ActorState]:
        """Every actor ever stored, removed ones included, with its deletion flag, by id."""
        with self._read() as session:
            rows = session.scalars(select(ActorRow).order_by(ActorRow.id))
            return [ActorState(_to_actor(r), r.deleted_at is not None) for r in rows]

    def list(self, include_deleted: bool = False) -> builtins.list[Actor]:
        """The actors ordered by id; removed ones only with ``include_deleted``."""
        return [s.actor for s in self.states() if include_deleted or not s.deleted]

    def history(self, actor_id: str) -> builtins.list[ActorChange]:
        """The actor's changes, oldest first (removed actors included). NotFoundError if none."""
        with self._read() as session:
            rows = session.scalars(
                select(ActorChangeRow)
                .where(ActorChangeRow.actor_id == actor_id)
                .order_by(ActorChangeRow.seq)
            ).all()
            if not rows:
                raise NotFoundError(f"no actor {actor_id!r}")
            return [
                ActorChange(
                    seq=r.seq,
                    actor_id=r.actor_id,
                    version=r.version,
                    change=cast(ChangeKind, r.change),
                    at=r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC),
                    actor=Actor.from_avro(r.registration),
                    deleted=bool(r.registration.get("deleted", False)),
                )
                for r in rows
            ]


def _line(exc: Exception) -> str:
    """The first line of the driver's message (SQLAlchemy appends SQL and a URL after it)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
