"""Closing the outbox records of actors removed from the registry (reason ``actor_removed``).

A removed actor is soft-deleted (:mod:`hub.stores.registry.store`): ``hub deliver`` stops
serving it, so its undelivered outbox records would wait forever and count as pending.
:func:`close_removed` closes them, in the database the registry and the outbox share:

* only the records of actors whose registry row is removed (``deleted_at`` set); an
  actor added again is served again, and a record closed meanwhile stays closed (it was
  owed to a registration that no longer exists; the new one starts from the feed's next
  record);
* each record gets ``delivered_at`` (closed), ``last_error`` = :data:`LAST_ERROR` and an
  audit row in the same transaction (outcome ``unsent``, reason :data:`REASON`, channel:
  the actor's last channel when it was a push channel, else ``outbox``), at most
  ``batch`` records per transaction, in feed order per actor;
* race-free with a concurrent re-add: PostgreSQL locks the selected outbox and actor rows
  (``FOR UPDATE``) until the commit, so a re-add waits for it, or commits first and the
  actor is not selected; SQLite's write transaction is exclusive already. Two sweeps at
  once (two ``hub deliver``) close each record once.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from hub.core.db import write_transaction
from hub.stores.audit import chain
from hub.stores.audit.store import UNSENT, closed_row
from hub.stores.delivery.tables import webhook_outbox as t
from hub.stores.registry.tables import ActorRow

REASON = "actor_removed"
LAST_ERROR = "not sent: actor removed from the registry"
#: the channels whose records wait in this outbox
PUSH_CHANNELS = ("webhook", "soap")


def close_removed(engine: Engine, *, batch: int = 500) -> Counter[tuple[str, str]]:
    """Close every undelivered record of a removed actor (module doc); return how many
    per (actor, channel)."""
    closed: Counter[tuple[str, str]] = Counter()
    while True:
        done = _close_some(engine, batch)
        closed.update(done)
        if sum(done.values()) < batch:
            return closed


def _close_some(engine: Engine, limit: int) -> Counter[tuple[str, str]]:
    a = ActorRow.__table__
    q = (
        select(t.c.seq, t.c.actor_id, t.c.body, a.c.delivery_channel)
        .join(a, a.c.id == t.c.actor_id)
        .where(a.c.deleted_at.is_not(None), t.c.delivered_at.is_(None))
        .order_by(t.c.actor_id, t.c.feed_offset)
        .limit(limit)
        .with_for_update()  # PostgreSQL: both rows held until the commit (module doc)
    )
    now = datetime.now(UTC)
    done: Counter[tuple[str, str]] = Counter()
    with write_transaction(engine) as conn:
        rows = conn.execute(q).all()
        if not rows:
            return done
        audit = []
        for _seq, actor_id, body, last_channel in rows:
            channel = last_channel if last_channel in PUSH_CHANNELS else "outbox"
            record = json.loads(bytes(body))
            audit.append(closed_row(actor_id, channel, record, now, UNSENT, REASON))
            done[(actor_id, channel)] += 1
        chain.append(conn, audit)
        conn.execute(
            update(t)
            .where(t.c.seq.in_([r.seq for r in rows]), t.c.delivered_at.is_(None))
            .values(delivered_at=now, last_error=LAST_ERROR)
        )
    return done
