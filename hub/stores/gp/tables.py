"""Tables of the gestion partagée record: the append-only events, the events Kafka has not
acknowledged yet, the purge's marks, and catalogue versions.

They live on the registry's metadata (``hub.stores.registry.tables.Base``) so that the migrations
and the autogenerate comparison see every table of the hub.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Table, Text

from hub.stores.registry.tables import Base

gp_events = Table(
    "gp_events",
    Base.metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("num_unique", String(40), nullable=False, index=True),
    Column("code", String(10), nullable=False),
    Column("catalogue_version", String(32), nullable=False),
    Column("date_survenance", String(10), nullable=False),
    #: actor id of the author (who)
    Column("auteur", String(63), nullable=False),
    #: when the hub recorded it
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    #: the whole EvenementGP record as published (what)
    Column("record", JSON, nullable=False),
    Column("a_publier", Boolean, nullable=False),
)

#: one row per stored event whose publication Kafka has not acknowledged yet: inserted in
#: the transaction that stores the event, deleted once Kafka acknowledged it (the events
#: stay append-only; this table says what is still owed to ``hub.evenements``)
gp_unpublished = Table(
    "gp_unpublished",
    Base.metadata,
    Column("event_id", String(64), primary_key=True),
    #: the event's ``gp_events.seq``: store order, the order of publication per demand
    Column("seq", Integer, ForeignKey("gp_events.seq"), nullable=False, unique=True),
    Column("num_unique", String(40), nullable=False, index=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

#: the demands whose events the running purge deletes: the only DELETE the triggers of
#: ``gp_events`` let through (migration 0012); written and emptied in the purge's
#: transaction (hub.services.purge), so empty at any other time
gp_purge_marks = Table(
    "gp_purge_marks",
    Base.metadata,
    Column("num_unique", String(40), primary_key=True),
)

gp_catalogues = Table(
    "gp_catalogues",
    Base.metadata,
    Column("version", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: the Catalogue model as JSON
    Column("content", JSON, nullable=False),
    Column("source", Text, nullable=False),
)
