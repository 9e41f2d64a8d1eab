"""The webhook outbox: feed records waiting to be POSTed, kept across restarts."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.stores.registry.tables import Base

webhook_outbox = Table(
    "webhook_outbox",
    Base.metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("actor_id", String(63), nullable=False, index=True),
    #: feed offset of the record: (actor_id, feed_offset) is unique, so a re-read is a no-op
    Column("feed_offset", Integer, nullable=False),
    Column("num_unique", String(40), nullable=False),
    #: the JSON body to POST (already cut to the actor's profile by the dispatch)
    Column("body", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("actor_id", "feed_offset"),
)
