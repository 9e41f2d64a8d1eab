"""Tables of the REST API: hashed API keys and the holders projection.

``api_holders`` says which actor holds which demand, as far as the API knows: fed from
each actor's own feed (DEMANDE/COPIE add, RETRAIT removes) read up to ``api_feed_cursors``,
and from the demands an actor submitted itself. See :mod:`hub.stores.access.holders`.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, String, Table

from hub.stores.registry.tables import Base

api_keys = Table(
    "api_keys",
    Base.metadata,
    Column("key_id", String(32), primary_key=True),
    Column("actor_id", String(63), nullable=False, index=True),
    Column("salt", LargeBinary, nullable=False),
    #: scrypt(secret, salt); the secret itself is never stored
    Column("hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

api_holders = Table(
    "api_holders",
    Base.metadata,
    Column("actor_id", String(63), primary_key=True),
    Column("num_unique", String(40), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
)

api_feed_cursors = Table(
    "api_feed_cursors",
    Base.metadata,
    Column("actor_id", String(63), primary_key=True),
    #: next feed offset not yet folded into api_holders
    Column("next_offset", Integer, nullable=False),
)
