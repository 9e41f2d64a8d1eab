"""Folding an actor's feed into a projection, from a stored cursor (the API's holders and
latest snapshots).

:func:`fold_feed` reads ``hub.feed.<actor_id>`` page by page from the offset stored in a
cursor table (columns ``actor_id``, ``next_offset``), hands each page to ``apply`` and
stores the next offset **in the same transaction**, so a crash never leaves the
projection ahead of or behind its cursor. Bounded by ``budget_s``: past it the fold stops
after the page in hand and the next call goes on from the stored cursor. A missing feed
(actor not dispatched to yet) is an empty one; a broker that cannot be read raises
:class:`~hub.core.errors.TransientError` (from :func:`~hub.core.kafka.feed_pages.read_feed_page`),
and so does a database that cannot be reached (:func:`~hub.core.db.transient_db_errors`).

Safe across processes (several ``hub api`` on one database, SQLite or PostgreSQL): each
page is written under a lock on the actor's cursor row (``SELECT … FOR UPDATE`` on
PostgreSQL, the write transaction itself on SQLite, whose ``BEGIN IMMEDIATE`` is
exclusive), and only its records at or after the offset stored *then* are applied. So,
whatever the interleaving of folds of one actor, every record is applied once and in feed
order, and the stored offset only moves forward: a fold that read a shorter page and
commits after a further one applies nothing and leaves the further offset (it never
re-applies an old DEMANDE over a later RETRAIT). Locks held: one row, for one page's
writes; the broker is read outside any transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update

from hub.core.db import dialect_insert, transient_db_errors, write_transaction
from hub.core.errors import NotFoundError
from hub.core.kafka.feed_pages import read_feed_page
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings

PAGE = 2000

#: ``apply(conn, actor_id, records)``: one page into the projection, in the cursor's transaction
Apply = Callable[[Connection, str, list[dict[str, Any]]], None]


async def fold_feed(engine: Engine, settings: HubSettings, actor_id: str, cursors: Table,
                    apply: Apply, budget_s: float | None = None, *,
                    pages: FeedPages | None = None) -> bool:  # fmt: skip
    """Fold the actor's feed from the stored cursor (module doc); True when the fold
    reached the feed's end (or there is no feed), False when ``budget_s`` ran out first.
    Pages are read through ``pages`` when given (a long-lived process), else with a
    consumer per page."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    with transient_db_errors(), engine.connect() as conn:
        cursor = conn.execute(select(cursors.c.next_offset).where(
            cursors.c.actor_id == actor_id)).scalar_one_or_none() or 0  # fmt: skip
    while True:
        try:
            if pages is None:
                records, nxt, end = await read_feed_page(settings, actor_id, int(cursor), PAGE)
            else:
                records, nxt, end = await pages.read(actor_id, int(cursor), PAGE)
        except NotFoundError:
            return True
        if not records and nxt <= cursor:
            return True  # nothing past the offset stored: no write (nor lock) at all
        with transient_db_errors(), write_transaction(engine) as conn:
            cursor = _apply_page(conn, cursors, actor_id, records, nxt, apply)
        if cursor >= end or not records:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False


def _apply_page(conn: Connection, cursors: Table, actor_id: str,
                records: list[dict[str, Any]], nxt: int, apply: Apply) -> int:  # fmt: skip
    """Apply what another fold did not already apply of a page read up to ``nxt``, and
    advance the stored offset to ``nxt`` (never back); the stored offset afterwards."""
    stored = _locked_cursor(conn, cursors, actor_id)
    if nxt <= stored:
        return stored  # another fold went as far or further: this page is done
    apply(conn, actor_id, [r for r in records if r["offset"] >= stored])
    mine = cursors.c.actor_id == actor_id
    conn.execute(update(cursors).where(mine, cursors.c.next_offset < nxt).values(next_offset=nxt))
    return nxt


def _locked_cursor(conn: Connection, cursors: Table, actor_id: str) -> int:
    """The stored offset, its row locked until the transaction ends (created at 0 first,
    so that there is a row to lock: two first folds meet on its key and the second waits)."""
    conn.execute(dialect_insert(conn, cursors).values(actor_id=actor_id, next_offset=0)
                 .on_conflict_do_nothing(index_elements=[cursors.c.actor_id]))  # fmt: skip
    q = select(cursors.c.next_offset).where(cursors.c.actor_id == actor_id).with_for_update()
    return int(conn.execute(q).scalar_one())
