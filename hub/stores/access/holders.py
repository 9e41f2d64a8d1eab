"""Which actor holds which demand, as the API knows it (the ``api_holders`` projection).

Source of truth: what the actor actually received. :meth:`Holders.holds` first catches up:
it folds the actor's own feed (``hub.feed.<actor_id>``) from the stored cursor to its end
into the table (DEMANDE/COPIE/RADIATION add, RETRAIT removes), then looks in the table. So
a withdrawal (RETRAIT, e.g. the demand moved out of the actor's territory) revokes access
at the actor's next call, not only when a miss forces a re-read. The catch-up is bounded
(:data:`CATCH_UP_S`): past it the check answers from what was folded so far and the next
check goes on from there. A catch-up that reached the end less than :data:`FRESH_S` ago
in this process is reused (a request checking many demands of one actor reads its feed
once, not once per demand). A broker that cannot be read makes the check fail (503),
never answer from stale holdings. A demand the actor submitted through the API (CRE/CRS)
is added at once.
Authoring gestion partagée events on a demand grants nothing by itself (the author held
the demand then; a later RETRAIT revokes its access like anyone else's).
A missing feed (actor not dispatched to yet) means no holdings.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.db import write_transaction
from hub.core.settings import HubSettings
from hub.stores.access.fold import fold_feed
from hub.stores.access.tables import api_feed_cursors, api_holders

#: most seconds one authorization check spends catching up the actor's feed
CATCH_UP_S = 3.0
#: a catch-up that reached the feed's end this recently is not repeated
FRESH_S = 0.2


class Holders:
    def __init__(self, engine: Engine, settings: HubSettings) -> None:
        self.engine = engine
        self.settings = settings
        # one catch-up per actor at a time in this process: two folding the same range
        # concurrently could write an older cursor over a newer one
        self._locks: dict[str, asyncio.Lock] = {}
        #: actor id -> monotonic time of its last catch-up that reached the feed's end
        self._caught_up_at: dict[str, float] = {}

    def _in_table(self, actor_id: str, num_unique: str) -> bool:
        q = select(api_holders.c.actor_id).where(
            api_holders.c.actor_id == actor_id, api_holders.c.num_unique == num_unique
        )
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def add(self, actor_id: str, num_unique: str) -> None:
        with write_transaction(self.engine) as conn:
            self._upsert(conn, actor_id, [num_unique])

    def _upsert(self, conn: object, actor_id: str, nums: list[str]) -> None:
        if not nums:
            return
        rows = [{"actor_id": actor_id, "num_unique": n, "since": datetime.now(UTC)} for n in nums]
        dialect = self.engine.dialect.name
        ins = (
            postgresql.insert(api_holders)
            if dialect == "postgresql"
            else sqlite.insert(api_holders)
        )
        conn.execute(ins.values(rows).on_conflict_do_nothing())  # type: ignore[attr-defined]

    async def holds(self, actor_id: str, num_unique: str) -> bool:
        """Whether the actor holds the demand, after catching up its feed (bounded)."""
        await self.sync(actor_id, budget_s=CATCH_UP_S)
        return self._in_table(actor_id, num_unique)

    async def sync(self, actor_id: str, budget_s: float | None = None) -> None:
        """Fold the actor's feed, from the stored cursor to its end (or for at most
        ``budget_s`` seconds), into the table."""
        lock = self._locks.setdefault(actor_id, asyncio.Lock())
        async with lock:
            if time.monotonic() - self._caught_up_at.get(actor_id, -FRESH_S) < FRESH_S:
                return
            started = time.monotonic()
            if await self._sync(actor_id, budget_s):
                self._caught_up_at[actor_id] = started

    async def _sync(self, actor_id: str, budget_s: float | None) -> bool:
        """True when the fold reached the feed's end (or there is no feed)."""
        return await fold_feed(self.engine, self.settings, actor_id, api_feed_cursors,
                               self._fold, budget_s)  # fmt: skip

    def _fold(self, conn: Connection, actor_id: str, records: list[dict[str, Any]]) -> None:
        held: dict[str, bool] = {}
        for r in records:
            if r.get("reason") == "ancien_destinataire":
                continue  # told of a radiation after a withdrawal: not a holder again
            held[r["numUnique"]] = r["kind"] != "RETRAIT"
        self._upsert(conn, actor_id, [n for n, h in held.items() if h])
        gone = [n for n, h in held.items() if not h]
        if gone:
            conn.execute(
                delete(api_holders).where(
                    api_holders.c.actor_id == actor_id, api_holders.c.num_unique.in_(gone)
                )
            )
