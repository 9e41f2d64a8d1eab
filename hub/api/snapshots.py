"""The latest snapshot of a demand as an actor received it, read from the actor's own feed.

The API keeps no copy of demand snapshots: it reads a demand where it reads everything
else about the actor's demands, in the actor's feed (``hub.feed.<actor_id>``, the same
source as :mod:`hub.stores.access.holders`). :class:`LatestSnapshots` folds the feed, from its own
stored cursor, into ``api_snapshot_offsets`` (per demand: the offset of the latest
DEMANDE, COPIE or RADIATION record and its demand version; a RETRAIT forgets the demand),
then reads the one record at that offset. Bounded like the holders' catch-up
(:data:`CATCH_UP_S`), one fold per actor at a time in the process (to read its feed once,
not for correctness: :func:`~hub.stores.access.fold.fold_feed` is safe across processes,
each record applied once under the actor's cursor lock, so the delete-then-insert of
:func:`_fold` never meets another fold's rows).

Contracts: :meth:`LatestSnapshots.latest` gives ``(snapshot, demandeVersion)`` of the
newest record carrying the demand that the actor's feed holds, cut to the actor's
profile, or ``None`` if the feed has none (not dispatched yet, withdrawn, or the record
left the topic by retention). A broker or a database that cannot be read raises
:class:`~hub.core.errors.TransientError` (503), never answers from a stale fold.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from hub.core.db import transient_db_errors
from hub.core.errors import NotFoundError
from hub.core.kafka.feed_pages import read_feed_page
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings
from hub.stores.access.fold import fold_feed
from hub.stores.cotation.tables import api_snapshot_cursors, api_snapshot_offsets

#: most seconds one read spends catching up the actor's feed
CATCH_UP_S = 3.0
_CARRYING = frozenset({"DEMANDE", "COPIE", "RADIATION"})


class LatestSnapshots:
    def __init__(self, engine: Engine, settings: HubSettings,
                 pages: FeedPages | None = None) -> None:  # fmt: skip
        self.engine = engine
        self.settings = settings
        #: the process's feed reader (None: a consumer per page)
        self.pages = pages
        self._locks: dict[str, asyncio.Lock] = {}

    async def latest(self, actor_id: str, num_unique: str) -> tuple[dict[str, Any], int] | None:
        """See the module doc."""
        record = await self.latest_record(actor_id, num_unique)
        if record is None:
            return None
        return dict(record["demande"]), int(record["demandeVersion"])

    async def latest_record(self, actor_id: str, num_unique: str) -> dict[str, Any] | None:
        """The feed record :meth:`latest` reads the snapshot from (its ``kind`` tells a
        radiated demand: ``RADIATION``), or ``None`` as :meth:`latest` says."""
        await self.sync(actor_id, CATCH_UP_S)
        q = select(api_snapshot_offsets.c.feed_offset).where(
            api_snapshot_offsets.c.actor_id == actor_id,
            api_snapshot_offsets.c.num_unique == num_unique,
        )
        with transient_db_errors(), self.engine.connect() as conn:
            offset = conn.execute(q).scalar_one_or_none()
        if offset is None:
            return None
        try:
            if self.pages is None:
                records, _, _ = await read_feed_page(self.settings, actor_id, int(offset), 1)
            else:
                records, _, _ = await self.pages.read(actor_id, int(offset), 1)
        except NotFoundError:
            return None
        if not records or records[0]["offset"] != offset or records[0].get("demande") is None:
            return None  # gone by retention
        return dict(records[0])

    async def sync(self, actor_id: str, budget_s: float | None = None) -> None:
        """Fold the actor's feed from the stored cursor to its end (or ``budget_s``)."""
        lock = self._locks.setdefault(actor_id, asyncio.Lock())
        async with lock:
            await self._sync(actor_id, budget_s)

    async def _sync(self, actor_id: str, budget_s: float | None) -> None:
        await fold_feed(self.engine, self.settings, actor_id, api_snapshot_cursors, _fold,
                        budget_s, pages=self.pages)  # fmt: skip


def _fold(conn: Connection, actor_id: str, records: list[dict[str, Any]]) -> None:
    latest: dict[str, tuple[int, int] | None] = {}
    for r in records:
        if r["kind"] == "RETRAIT":
            latest[r["numUnique"]] = None
        elif r["kind"] in _CARRYING and r.get("demande") is not None:
            latest[r["numUnique"]] = (r["offset"], r["demandeVersion"])
    if not latest:
        return
    conn.execute(delete(api_snapshot_offsets).where(
        api_snapshot_offsets.c.actor_id == actor_id,
        api_snapshot_offsets.c.num_unique.in_(list(latest))))  # fmt: skip
    rows = [{"actor_id": actor_id, "num_unique": n, "feed_offset": v[0],
             "demande_version": v[1]} for n, v in latest.items() if v]  # fmt: skip
    if rows:
        conn.execute(api_snapshot_offsets.insert(), rows)
