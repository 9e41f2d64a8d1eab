"""Tables of the cotation in the API (issue 20 point 4).

* ``cotation_declarations``: partners' declarations of the grid criteria the SNE data
  cannot tell, append-only; the latest one (highest ``seq``) of a (demand, EPCI,
  criterion) is in force. ``declaration_id`` (client-chosen, optional) makes a retry
  idempotent. No personal data: codes, a boolean, the author's actor id, a short comment.
  ``demande_creee`` is the life of the demand it was declared for (the
  ``dateCreationDemande`` of the snapshot the partner held; NULL: unknown, rows written
  before revision 0015): a new demand on the numéro after a ``SUP`` does not inherit it
  (:mod:`hub.domain.cotation.lives`).
* ``api_snapshot_offsets``: where, in an actor's own feed, the latest record carrying a
  snapshot of each demand is (offset and demand version) — the score reads that record
  from the feed; the snapshot itself is never copied into the database.
  ``api_snapshot_cursors`` is the next feed offset not yet folded, per actor.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
)

from hub.stores.registry.tables import Base

cotation_declarations = Table(
    "cotation_declarations",
    Base.metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("declaration_id", String(64), nullable=True, unique=True),
    Column("num_unique", String(40), nullable=False),
    Column("epci", String(9), nullable=False),
    Column("critere", String(40), nullable=False),
    Column("valeur", Boolean, nullable=False),
    Column("auteur", String(63), nullable=False),
    Column("date_declaration", Date, nullable=False),
    Column("commentaire", String(500), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("demande_creee", Date, nullable=True),
    Index("ix_cotation_declarations_demande", "num_unique", "epci"),
)

api_snapshot_offsets = Table(
    "api_snapshot_offsets",
    Base.metadata,
    Column("actor_id", String(63), primary_key=True),
    Column("num_unique", String(40), primary_key=True),
    Column("feed_offset", BigInteger, nullable=False),
    Column("demande_version", BigInteger, nullable=False),
)

api_snapshot_cursors = Table(
    "api_snapshot_cursors",
    Base.metadata,
    Column("actor_id", String(63), primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
