"""The webhook outbox (database): nothing is lost across restarts, order kept per actor.

Feed records are copied into the outbox with their feed offset ((actor, offset) unique:
copying again is a no-op), then sent strictly in offset order per actor: the next record
of an actor waits until the previous one is delivered, which keeps the order per demand
(and overall). A failed attempt sets ``next_attempt_at``; nothing is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.db import write_transaction
from hub.delivery.tables import webhook_outbox as t


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    actor_id: str
    feed_offset: int
    num_unique: str
    body: bytes
    attempts: int
    next_attempt_at: datetime


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, actor_id: str, rows: list[tuple[int, str, bytes]]) -> None:
        """Copy (feed offset, numéro unique, body) rows in; already present ones are kept."""
        if not rows:
            return
        now = datetime.now(UTC)
        values = [{"actor_id": actor_id, "feed_offset": o, "num_unique": n, "body": b,
                   "attempts": 0, "next_attempt_at": now} for o, n, b in rows]
        ins = (postgresql.insert(t) if self.engine.dialect.name == "postgresql"
               else sqlite.insert(t))
        with write_transaction(self.engine) as conn:
            conn.execute(ins.values(values).on_conflict_do_nothing())

    def next_offset(self, actor_id: str) -> int:
        """The feed offset to copy from (one past the last copied)."""
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(t.c.feed_offset)).where(
                t.c.actor_id == actor_id)).scalar_one_or_none()
        return 0 if last is None else int(last) + 1

    def head(self, actor_id: str) -> Pending | None:
        """The oldest undelivered record of the actor (due or not)."""
        q = (select(t.c.seq, t.c.actor_id, t.c.feed_offset, t.c.num_unique, t.c.body,
                    t.c.attempts, t.c.next_attempt_at)
             .where(t.c.actor_id == actor_id, t.c.delivered_at.is_(None))
             .order_by(t.c.feed_offset).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        nxt = row.next_attempt_at
        if nxt.tzinfo is None:  # SQLite returns naive datetimes
            nxt = nxt.replace(tzinfo=UTC)
        return Pending(row.seq, row.actor_id, row.feed_offset, row.num_unique, bytes(row.body),
                       row.attempts, nxt)

    def delivered(self, seq: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(update(t).where(t.c.seq == seq).values(
                delivered_at=datetime.now(UTC), attempts=t.c.attempts + 1, last_error=None))

    def failed(self, seq: int, next_at: datetime, error: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(update(t).where(t.c.seq == seq).values(
                attempts=t.c.attempts + 1, next_attempt_at=next_at, last_error=error[:500]))

    def undelivered(self, actor_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(
                t.c.actor_id == actor_id, t.c.delivered_at.is_(None))).scalar_one())
