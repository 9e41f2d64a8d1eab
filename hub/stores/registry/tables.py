"""Tables of the actor registry (SQLAlchemy 2 typed declarative models).

They must agree with the alembic migrations in ``hub/migrations/versions`` (a test compares
them with alembic's autogenerate): change both together, and add a new revision rather than
editing an applied one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: explicit constraint names, so migrations can name them and SQLite reflects them
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (read by SQLAlchemy at class creation)
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class ActorRow(Base):
    """The current state of one actor; a removed actor keeps its row with ``deleted_at`` set."""

    __tablename__ = "actors"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(32))
    #: ``ActorFilters`` as a JSON object
    filters: Mapped[dict[str, Any]]
    delivery_channel: Mapped[str] = mapped_column(String(16))
    delivery_options: Mapped[dict[str, Any]]
    #: ``Actor.enregistreur``: writes demands; None: the default of its kind (migration 0013)
    enregistreur: Mapped[bool | None]
    #: increases by one at every add, update, remove and re-add
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    #: the version last acknowledged on Kafka (registration and controls); None: never
    published_version: Mapped[int | None]


class ActorChangeRow(Base):
    """One change of the registry (append-only audit trail), with the registration as it was."""

    __tablename__ = "actor_changes"
    __table_args__ = (
        UniqueConstraint("actor_id", "version"),
        CheckConstraint("change IN ('add', 'update', 'remove')", name="change"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor_id: Mapped[str] = mapped_column(String(63), ForeignKey("actors.id"))
    version: Mapped[int]
    change: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime]
    #: ``Actor.to_avro(deleted=...)``: the ``ActorRegistration`` record of this version
    registration: Mapped[dict[str, Any]]
