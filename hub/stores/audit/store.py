"""The audit trail: every delivery of personal data, queryable by numéro unique and actor.

A delivery is recorded when a record carrying a demand snapshot leaves the hub through a
channel this package serves (API feed reads, webhook POSTs): actor, numéro unique, demand
version, channel, time, profile applied, record kind. A record a channel closes without
delivering it (the receiver refused it, it cannot be rendered, its actor was removed)
is recorded too, whether it carries personal data or not, with its ``outcome`` and
``reason`` (:func:`closed_row`). Rows are only appended, through the hash chain of
:mod:`hub.stores.audit.chain` (``hub audit verify``); docs/audit.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from hub.core.db import write_transaction
from hub.stores.audit import chain
from hub.stores.audit.tables import audit_deliveries

#: ``outcome`` of a record the receiver got and refused (personal data did reach it)
REFUSED = "refused"
#: ``outcome`` of a record closed without being sent (nothing of it left the hub)
UNSENT = "unsent"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row; ``outcome`` None for a delivery (see :data:`REFUSED`, :data:`UNSENT`)."""

    actor_id: str
    num_unique: str
    demande_version: int
    channel: str
    profile: str
    kind: str
    at: datetime
    outcome: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as the API and ``hub audit`` show it (``outcome`` and ``reason`` only
        for a record closed without being delivered)."""
        out: dict[str, Any] = {
            "actorId": self.actor_id,
            "numUnique": self.num_unique,
            "demandeVersion": self.demande_version,
            "channel": self.channel,
            "profile": self.profile,
            "kind": self.kind,
            "at": self.at.isoformat(),
        }
        if self.outcome is not None:
            out.update(outcome=self.outcome, reason=self.reason)
        return out


def carries_personal_data(record: dict[str, Any]) -> bool:
    return record.get("demande") is not None


def row_of(actor_id: str, channel: str, record: dict[str, Any], at: datetime,
           event_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The columns every audit row takes from a feed ``record`` pushed (or closed) by
    ``channel`` for ``actor_id`` at ``at``; ``event_id`` None: not replayable from it."""
    return {
        "actor_id": actor_id,
        "num_unique": record["numUnique"],
        "demande_version": int(record["demandeVersion"]),
        "channel": channel,
        "profile": record["profile"],
        "kind": record["kind"],
        "at": at,
        "event_id": event_id,
    }


def delivery_rows(
    actor_id: str, channel: str, feed_records: Iterable[dict[str, Any]], at: datetime
) -> list[dict[str, Any]]:
    """The audit rows (no event id) of the pushes of ``feed_records`` to ``actor_id`` through
    ``channel`` at ``at``: one per record carrying personal data, in order. For callers
    that append them in their own transaction (:func:`hub.stores.audit.chain.append`)."""
    return [row_of(actor_id, channel, r, at) for r in feed_records if carries_personal_data(r)]


def closed_row(
    actor_id: str,
    channel: str,
    record: dict[str, Any],
    at: datetime,
    outcome: str,
    reason: str,
    *,
    replayable: bool = False,
) -> dict[str, Any]:
    """The audit row of a feed ``record`` that ``channel`` closed at ``at`` without
    delivering it to ``actor_id``: ``outcome`` :data:`REFUSED` or :data:`UNSENT`,
    ``reason`` a short code (``soap_fault``, ``unrenderable``, ``actor_removed``), never
    the receiver's text. Written whether the record carries personal data or not: it is
    the trace of the closure. ``replayable``: the row carries the record's event id
    (a DIS file rewritten after a crash adds none)."""
    event_id = record["eventId"] if replayable else None
    return {**row_of(actor_id, channel, record, at, event_id), "outcome": outcome,
            "reason": reason[:40]}  # fmt: skip


class AuditStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, actor_id: str, channel: str, feed_records: Iterable[dict[str, Any]]) -> int:
        """Record the deliveries among ``feed_records`` that carry personal data."""
        rows = delivery_rows(actor_id, channel, feed_records, datetime.now(UTC))
        if rows:
            with write_transaction(self.engine) as conn:
                chain.append(conn, rows)
        return len(rows)

    def query(
        self, *, num_unique: str | None = None, actor_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The first ``limit`` rows in time order (deliveries, and records closed
        undelivered with their ``outcome``), filtered by numéro unique and/or actor."""
        return self.page(num_unique=num_unique, actor_id=actor_id, limit=limit)[0]

    def page(
        self,
        *,
        num_unique: str | None = None,
        actor_id: str | None = None,
        cursor: int = 0,
        limit: int = 1000,
    ) -> tuple[list[AuditEntry], int | None]:
        """Up to ``limit`` rows from position ``cursor`` on, in the order they were
        recorded (``seq``: appends are serialised, so a row committed later never lands
        before a page already read), filtered by numéro unique and/or actor; and the
        cursor of the next page, None when no row follows."""
        t = audit_deliveries
        q = (
            select(
                t.c.seq,
                t.c.actor_id,
                t.c.num_unique,
                t.c.demande_version,
                t.c.channel,
                t.c.profile,
                t.c.kind,
                t.c.at,
                t.c.outcome,
                t.c.reason,
            )
            .where(t.c.seq >= cursor)
            .order_by(t.c.seq)
            .limit(limit + 1)  # one more: whether a next page exists
        )
        if num_unique is not None:
            q = q.where(t.c.num_unique == num_unique)
        if actor_id is not None:
            q = q.where(t.c.actor_id == actor_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        entries = [AuditEntry(*tuple(row)[1:]) for row in rows[:limit]]
        nxt = rows[limit - 1][0] + 1 if len(rows) > limit else None
        return entries, nxt
