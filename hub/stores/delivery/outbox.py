"""The push outbox (database): nothing is lost across restarts, order kept per actor.

Feed records are copied into the outbox with their feed offset ((actor, offset) unique:
copying again is a no-op), then sent strictly in offset order per actor: the next record
of an actor waits until the previous one is delivered, which keeps the order per demand
(and overall). A failed attempt sets ``next_attempt_at`` on the actor's oldest
undelivered record (its head), which holds back the whole actor; nothing is dropped
silently: a record closed undelivered (refused by the receiver, unrenderable, its actor
removed: :mod:`hub.stores.delivery.removed`) keeps its reason and gets an audit row.

Batches (issue 22 point 4): :meth:`Outbox.due` reads up to N records in feed order when
the head is due, and :meth:`Outbox.settle` closes what the receiver answered, sets the
next attempt of the record that failed and appends the audit rows, all in one
transaction: a record is closed only with its audit row, and only after its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.db import write_transaction
from hub.stores.audit import chain
from hub.stores.delivery.tables import webhook_outbox as t


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
        values = [
            {
                "actor_id": actor_id,
                "feed_offset": o,
                "num_unique": n,
                "body": b,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for o, n, b in rows
        ]
        ins = postgresql.insert(t) if self.engine.dialect.name == "postgresql" else sqlite.insert(t)
        with write_transaction(self.engine) as conn:
            conn.execute(ins.values(values).on_conflict_do_nothing())

    def next_offset(self, actor_id: str) -> int:
        """The feed offset to copy from (one past the last copied)."""
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(t.c.feed_offset)).where(t.c.actor_id == actor_id)
            ).scalar_one_or_none()
        return 0 if last is None else int(last) + 1

    def head(self, actor_id: str) -> Pending | None:
        """The oldest undelivered record of the actor (due or not)."""
        rows = self._undelivered(actor_id, 1, None)
        return rows[0] if rows else None

    def due(self, actor_id: str, limit: int, after: int | None = None) -> list[Pending]:
        """Up to ``limit`` undelivered records of the actor in feed order when the oldest
        one is due now, else none. ``after``: a feed offset up to which every record of
        the actor is known delivered (the caller's cursor: an index range instead of a
        walk over the actor's delivered rows)."""
        return self.due_or_wait(actor_id, limit, after)[0]

    def due_or_wait(
        self, actor_id: str, limit: int, after: int | None = None
    ) -> tuple[list[Pending], datetime | None]:
        """(:meth:`due`'s records, None) when the oldest record is due; ([], its next
        attempt time) when it is not yet; ([], None) when nothing is undelivered."""
        rows = self._undelivered(actor_id, limit, after)
        if not rows:
            return [], None
        if rows[0].next_attempt_at > datetime.now(UTC):
            return [], rows[0].next_attempt_at
        return rows, None

    def _undelivered(self, actor_id: str, limit: int, after: int | None) -> list[Pending]:
        q = select(
            t.c.seq,
            t.c.actor_id,
            t.c.feed_offset,
            t.c.num_unique,
            t.c.body,
            t.c.attempts,
            t.c.next_attempt_at,
        ).where(t.c.actor_id == actor_id, t.c.delivered_at.is_(None))
        if after is not None:
            q = q.where(t.c.feed_offset > after)
        with self.engine.connect() as conn:
            return [_pending(r) for r in conn.execute(q.order_by(t.c.feed_offset).limit(limit))]

    def settle(
        self,
        answered: Sequence[tuple[Pending, str | None]],
        failed: tuple[Pending, datetime, str] | None,
        audit_rows: Sequence[dict[str, Any]],
        *,
        again: bool = False,
    ) -> bool:
        """One transaction: append ``audit_rows`` to the audit chain, close the
        ``answered`` records (``last_error`` = the receiver's business answer, e.g. a SOAP
        Fault, or None when accepted), and give the ``failed`` record its next attempt
        time and error. Nothing is written if any part fails. ``again``: a retry of a
        settle whose outcome is unknown (its commit failed): skipped, returning False,
        when one of the ``answered`` records is already closed (it did commit)."""
        now = datetime.now(UTC)
        ok = [p.seq for p, answer in answered if answer is None]
        with write_transaction(self.engine) as conn:
            seqs = [p.seq for p, _ in answered]
            if (
                again
                and seqs
                and conn.execute(
                    select(func.count()).where(
                        t.c.seq.in_(seqs[:500]), t.c.delivered_at.is_not(None)
                    )
                ).scalar_one()
            ):
                return False
            if audit_rows:
                chain.append(conn, audit_rows)
            for i in range(0, len(ok), 500):
                conn.execute(
                    update(t)
                    .where(t.c.seq.in_(ok[i : i + 500]))
                    .values(delivered_at=now, attempts=t.c.attempts + 1, last_error=None)
                )
            for p, answer in answered:
                if answer is not None:
                    conn.execute(
                        update(t)
                        .where(t.c.seq == p.seq)
                        .values(
                            delivered_at=now, attempts=t.c.attempts + 1, last_error=answer[:500]
                        )
                    )
            if failed is not None:
                p, next_at, error = failed
                conn.execute(
                    update(t)
                    .where(t.c.seq == p.seq)
                    .values(
                        attempts=t.c.attempts + 1, next_attempt_at=next_at, last_error=error[:500]
                    )
                )
        return True

    def delivered(self, seq: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(t)
                .where(t.c.seq == seq)
                .values(delivered_at=datetime.now(UTC), attempts=t.c.attempts + 1, last_error=None)
            )

    def failed(self, seq: int, next_at: datetime, error: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(t)
                .where(t.c.seq == seq)
                .values(attempts=t.c.attempts + 1, next_attempt_at=next_at, last_error=error[:500])
            )

    def undelivered(self, actor_id: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(t.c.actor_id == actor_id, t.c.delivered_at.is_(None))
                ).scalar_one()
            )


def _pending(row: Any) -> Pending:
    nxt = row.next_attempt_at
    if nxt.tzinfo is None:  # SQLite returns naive datetimes
        nxt = nxt.replace(tzinfo=UTC)
    return Pending(
        row.seq, row.actor_id, row.feed_offset, row.num_unique, bytes(row.body), row.attempts, nxt
    )
