"""Folding an actor's feed into a projection, from a stored cursor (the API's holders and
latest snapshots).

:func:`fold_feed` reads ``hub.feed.<actor_id>`` page by page from the offset stored in a
cursor table (columns ``actor_id``, ``next_offset``), hands each page to ``apply`` and
stores the next offset **in the same transaction**, so a crash never leaves the
projection ahead of or behind its cursor. Bounded by ``budget_s``: past it the fold stops
after the page in hand and the next call goes on from the stored cursor. A missing feed
(actor not dispatched to yet) is an empty one; a broker that cannot be read raises
:class:`~hub.core.errors.TransientError` (from :func:`~hub.core.kafka.feed_pages.read_feed_page`).
Callers fold one actor at a time (their lock): two folds of one range could write an
older cursor over a newer one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, select

from hub.core.db import write_transaction
from hub.core.errors import NotFoundError
from hub.core.kafka.feed_pages import read_feed_page
from hub.core.settings import HubSettings

PAGE = 2000

#: ``apply(conn, actor_id, records)``: one page into the projection, in the cursor's transaction
Apply = Callable[[Connection, str, list[dict[str, Any]]], None]


async def fold_feed(engine: Engine, settings: HubSettings, actor_id: str, cursors: Table,
                    apply: Apply, budget_s: float | None = None) -> bool:  # fmt: skip
    """Fold the actor's feed from the stored cursor (module doc); True when the fold
    reached the feed's end (or there is no feed), False when ``budget_s`` ran out first."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    with engine.connect() as conn:
        cursor = conn.execute(select(cursors.c.next_offset).where(
            cursors.c.actor_id == actor_id)).scalar_one_or_none() or 0  # fmt: skip
    while True:
        try:
            records, nxt, end = await read_feed_page(settings, actor_id, int(cursor), PAGE)
        except NotFoundError:
            return True
        with write_transaction(engine) as conn:
            apply(conn, actor_id, records)
            conn.execute(delete(cursors).where(cursors.c.actor_id == actor_id))
            conn.execute(cursors.insert().values(actor_id=actor_id, next_offset=nxt))
        cursor = nxt
        if nxt >= end or not records:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
