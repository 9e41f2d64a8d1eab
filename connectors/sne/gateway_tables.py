"""The SOAP gateway's records owed to Kafka (migration 0010); apart from the gateway's
package so that migrations need not import the gateway.

One row per record the gateway must publish because the SNE accepted a call (a
``DemandeEvent`` for ``hub.demandes``, an ``EvenementGP`` for ``hub.evenements``): written
before the ERP gets its answer, deleted once Kafka acknowledged the record. The row holds
the record byte for byte (key, value: the event id is inside the value), so that what is
published later is what would have been published then. On the registry's metadata so
that migrations and the model/migration comparison see it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, String, Table

from hub.stores.registry.tables import Base

gateway_unpublished = Table(
    "sne_gateway_unpublished",
    Base.metadata,
    #: store order: the order of publication per demand
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    #: the record's Kafka key (the numéro unique): the unit of ordering
    Column("num_unique", String(40), nullable=False, index=True),
    Column("record_key", LargeBinary, nullable=False),
    Column("record_value", LargeBinary, nullable=False),
    #: the ``eventId`` inside ``record_value`` (consumers deduplicate by it), for operators
    Column("event_id", String(64), nullable=False),
    #: the SOAP operation the SNE accepted (``getNumUnique``, ``ajouterEvenementDemande``...)
    Column("operation", String(40), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    #: publications tried and failed, and the last failure (an error class name or code)
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(300), nullable=True),
    #: set when Kafka refused this very record for good (too large...): set aside, it no
    #: longer holds its demand's later records; tried again at the gateway's next start
    Column("refused_at", DateTime(timezone=True), nullable=True),
)
