"""The audit trail of deliveries of personal data, and of the records a channel closed
without delivering them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from hub.stores.registry.tables import Base

audit_deliveries = Table(
    "audit_deliveries",
    Base.metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("actor_id", String(63), nullable=False, index=True),
    Column("num_unique", String(40), nullable=False, index=True),
    Column("demande_version", Integer, nullable=False),
    #: kafka | api | webhook | soap | file
    Column("channel", String(16), nullable=False),
    Column("profile", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    #: source event id of a Kafka feed delivery (NULL for API reads and webhooks)
    Column("event_id", String(64), nullable=True),
    #: NULL: a delivery. Else the record was closed without being delivered: ``refused``
    #: (the receiver got it and refused it, e.g. a SOAP Fault) or ``unsent`` (nothing of it
    #: left the hub); ``reason`` is then a short code (hub.stores.audit.store.closed_row)
    Column("outcome", String(16), nullable=True),
    Column("reason", String(40), nullable=True),
    #: hash chain (hub.stores.audit.chain): row_hash of the previous row in seq order, and
    #: SHA-256 over this row's delivery fields and prev_hash (hex)
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    #: a delivery recorded twice (consumer redelivery, rerun) is one row
    Index("ix_audit_deliveries_delivery", "event_id", "kind", "actor_id", "channel", unique=True),
)
