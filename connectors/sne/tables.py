"""Tables of the SNE simulator's store and of the SNE poller's memory (migration 0003).

They live on the registry's metadata so that migrations and the model/migration comparison
see every table of the hub. The simulator keeps each demand's last document as the SNE
would answer it; the poller keeps, per demand, the digest and snapshot it last published.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, LargeBinary, String, Table

from hub.stores.registry.tables import Base

sim_demandes = Table(
    "sne_sim_demandes",
    Base.metadata,
    Column("num_unique", String(18), primary_key=True),
    Column("guichet", String(5), nullable=False),
    Column("etat", String(1), nullable=False),  # A active, R radiée
    Column("date_depot", String(10), nullable=False),
    Column("date_renouvellement", String(10), nullable=True),
    Column("date_radiation", String(10), nullable=True),
    Column("motif_radiation", String(6), nullable=True),
    Column("communes", JSON, nullable=False),
    #: SHA-256 of the applicant's identity, for the duplicate search (never the identity)
    Column("identite", String(64), nullable=False),
    Column("dalo_declared_on", String(10), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    #: the InterfaceNuu document the SNE answers for this demand
    Column("document", LargeBinary, nullable=False),
)

sim_sequences = Table(
    "sne_sim_sequences",
    Base.metadata,
    Column("territoire", String(3), primary_key=True),
    Column("last", Integer, nullable=False),
)

sim_evenements = Table(
    "sne_sim_evenements",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("num_unique", String(18), nullable=False, index=True),
    Column("data", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

poll_seen = Table(
    "sne_poll_seen",
    Base.metadata,
    Column("num_unique", String(18), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("event", JSON, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

poll_watermarks = Table(
    "sne_poll_watermarks",
    Base.metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
