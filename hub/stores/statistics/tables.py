"""Tables of the territorial statistics (issue 20 point 5; migration 0007).

* ``stat_demandes``: one row per demand folded from hub.demandes (a ``SUP`` leaves a
  deletion marker: its position and event ids only, no territory nor EPCI row):
  the territory of its first wished commune, typologies, creation date, active or radiated
  (date, motive), resources per consumption unit, and where it was last folded (partition,
  offset, recent event ids: the fold's idempotence), its renewal cycle as the dispatch
  worker reckons it (``renouvellement``: the clock's renewal token, ``''`` for none;
  ``debut_cycle``: the cycle's start — migration 0016, both NULL on the rows written
  before it: what may bring a radiated demand back). No personal data beyond what a
  statistic needs: no name, no birth date, no address.
* ``stat_demande_epcis``: one row per (demand, EPCI it wishes): its score under the EPCI's
  grid in force at its last event (null without a grid), for the similar demands and the
  EPCI's population of applicants (the quartile thresholds).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from hub.stores.registry.tables import Base

stat_demandes = Table(
    "stat_demandes",
    Base.metadata,
    Column("num_unique", String(40), primary_key=True),
    Column("commune", String(5), nullable=True),
    Column("epci", String(9), nullable=True),
    Column("departement", String(3), nullable=True),
    Column("typologies", String(64), nullable=False),
    Column("date_creation", Date, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("date_radiation", Date, nullable=True),
    Column("motif_radiation", String(10), nullable=True),
    Column("ressources_uc", Float, nullable=True),
    Column("renouvellement", Text, nullable=True),
    Column("debut_cycle", Date, nullable=True),
    Column("last_partition", Integer, nullable=False),
    Column("last_offset", BigInteger, nullable=False),
    Column("recent_event_ids", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_stat_demandes_commune", "commune"),
    Index("ix_stat_demandes_epci", "epci"),
    Index("ix_stat_demandes_departement", "departement"),
)

stat_demande_epcis = Table(
    "stat_demande_epcis",
    Base.metadata,
    Column("num_unique", String(40), primary_key=True),
    Column("epci", String(9), primary_key=True),
    Column("rang", Integer, nullable=False),
    Column("score", Integer, nullable=True),
    Index("ix_stat_demande_epcis_epci", "epci"),
)
