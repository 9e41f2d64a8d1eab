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
is added at once; when the worker refuses that creation on a demand the actor does not
hold, it sends the actor a RETRAIT (``ecriture_refusee``), which drops it at the next fold.
Authoring gestion partagée events on a demand grants nothing by itself (the author held
the demand then; a later RETRAIT revokes its access like anyone else's).
A missing feed (actor not dispatched to yet) means no holdings.

Several ``hub api`` on one database: the fold is safe across processes
(:mod:`hub.stores.access.fold`: each record applied once, in order, the cursor never moving
back), and :meth:`Holders.claim` makes a creation's claim atomic (one of two actors creating
one numéro at once wins, :mod:`hub.stores.access.scope`). A database that cannot be reached
raises :class:`~hub.core.errors.TransientError` (503).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, text

from hub.core.db import dialect_insert, transient_db_errors, write_transaction
from hub.core.errors import ForbiddenError
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings
from hub.stores.access.fold import fold_feed
from hub.stores.access.scope import claimed
from hub.stores.access.tables import api_feed_cursors, api_holders

#: most seconds one authorization check spends catching up the actor's feed
CATCH_UP_S = 3.0
#: a catch-up that reached the feed's end this recently is not repeated
FRESH_S = 0.2
#: first key of the PostgreSQL advisory locks of claims (two-int keys: a space of its own,
#: apart from the hub's one-bigint keys), the second being the numéro's hash
_CLAIM_LOCKS = 0x636C_6D00  # "clm"


class Holders:
    def __init__(self, engine: Engine, settings: HubSettings,
                 pages: FeedPages | None = None) -> None:  # fmt: skip
        self.engine = engine
        self.settings = settings
        #: the process's feed reader (None: a consumer per page, for one-shot users)
        self.pages = pages
        # one catch-up per actor at a time in this process: not for correctness (the fold
        # locks the actor's cursor row, across processes), so that concurrent requests of
        # one actor wait for one read of its feed instead of each reading the same page
        self._locks: dict[str, asyncio.Lock] = {}
        #: actor id -> monotonic time of its last catch-up that reached the feed's end
        self._caught_up_at: dict[str, float] = {}

    def _in_table(self, actor_id: str, num_unique: str) -> bool:
        q = select(api_holders.c.actor_id).where(
            api_holders.c.actor_id == actor_id, api_holders.c.num_unique == num_unique
        )
        with transient_db_errors(), self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def add(self, actor_id: str, num_unique: str) -> None:
        """Record that the actor holds the demand (idempotent)."""
        with transient_db_errors(), write_transaction(self.engine) as conn:
            upsert_holdings(conn, actor_id, [num_unique])

    def claim(self, actor_id: str, nums: list[str]) -> None:
        """Make the actor the holder of the demands it creates (CRE/CRS), all or none:
        :class:`~hub.core.errors.ForbiddenError` when one of ``nums`` is known as someone
        else's (:func:`~hub.stores.access.scope.claimed`), nothing claimed then. Atomic
        across processes: the check and the claim run in one transaction holding a lock
        per numéro (a PostgreSQL advisory lock; SQLite's write transaction is exclusive),
        so of two actors creating one numéro at once the second is refused as if it came
        after the first."""
        wanted = sorted(set(nums))  # one lock order for every claimer: no deadlock
        if not wanted:
            return
        with transient_db_errors(), write_transaction(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                for num in wanted:  # hashtext: two numéros sharing a key only wait
                    conn.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:num))"),
                                 {"space": _CLAIM_LOCKS, "num": num})  # fmt: skip
            for num in wanted:
                if claimed(conn, actor_id, num):
                    raise ForbiddenError(f"actor {actor_id} may not create demand {num} again")
            upsert_holdings(conn, actor_id, wanted)

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
                               self._fold, budget_s, pages=self.pages)  # fmt: skip

    def _fold(self, conn: Connection, actor_id: str, records: list[dict[str, Any]]) -> None:
        held: dict[str, bool] = {}
        for r in records:
            if r.get("reason") == "ancien_destinataire":
                continue  # told of a radiation after a withdrawal: not a holder again
            held[r["numUnique"]] = r["kind"] != "RETRAIT"
        upsert_holdings(conn, actor_id, [n for n, h in held.items() if h])
        gone = [n for n, h in held.items() if not h]
        if gone:
            conn.execute(
                delete(api_holders).where(
                    api_holders.c.actor_id == actor_id, api_holders.c.num_unique.in_(gone)
                )
            )


def upsert_holdings(conn: Connection, actor_id: str, nums: list[str]) -> None:
    """The actor holds ``nums`` (rows already there are left as they are). Rows go in
    numéro order: two transactions inserting overlapping numéros wait for each other in
    one order, never in a cycle."""
    if not nums:
        return
    now = datetime.now(UTC)
    rows = [{"actor_id": actor_id, "num_unique": n, "since": now} for n in sorted(set(nums))]
    conn.execute(dialect_insert(conn, api_holders).values(rows).on_conflict_do_nothing())
