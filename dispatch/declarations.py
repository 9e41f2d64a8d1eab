"""The partners' cotation declarations as the dispatch worker sees them: a small cached
port over ``cotation_declarations`` (docs/cotation.md, "The score in the feed").

Why a cache: every demand event of an EPCI with a grid asks for the demand's
declarations; one SQL query per event would cost more than the rest of the dispatch.
Declarations are few (the eight criteria a partner declares) and append-only, so
:class:`CachedDeclarations` holds them all in memory, indexed by (numéro, EPCI), and
reads the rows added since its last ``seq`` — at most once per ``min_interval_s``.

Contract of a call ``(numéro, EPCI, cutoff ms, created)``: per criterion, the latest
declaration (highest ``seq``) **of the demand's life** (``created``: the scored snapshot's
``dateCreationDemande``; a new demand after a ``SUP`` inherits nothing,
:func:`hub.domain.cotation.lives.of_life`, audit N, N9) **recorded at or before the cutoff**
(the record's ``occurredAt``), so a replayed record is scored with what the original was,
not with what was declared since. The answer is exact for a cutoff up to the last refresh
minus ``margin_s`` (the longest a row may take between its ``recorded_at`` and its commit);
a later cutoff makes the port refresh first when ``min_interval_s`` has passed, else answer
from what it has: a declaration recorded less than ``min_interval_s + margin_s`` before an
event's ``occurredAt`` may be missed by that event's record and seen by a replay of it (the
only non-determinism; the next record of the demand sees it). A database that cannot be read
is logged and tried again after a back-off doubling up to :data:`MAX_BACKOFF_S` (the read
runs on the worker's loop: an unreachable server must not stall it every second), the cache
answering meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select

from hub.domain.cotation import Declaration
from hub.domain.cotation.lives import of_life
from hub.stores.cotation.tables import cotation_declarations as table

log = logging.getLogger(__name__)

#: longest wait between two reads of an unreadable database
MAX_BACKOFF_S = 60.0
#: (seq, recorded at ms, life of the demand declared for, declaration)
_Row = tuple[int, int, date | None, Declaration]


def _ms(value: datetime) -> int:
    if value.tzinfo is None:  # SQLite gives back naive UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class CachedDeclarations:
    """See the module doc."""

    def __init__(self, engine: Engine, *, min_interval_s: float = 1.0, margin_s: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.engine = engine
        self.min_interval_s = min_interval_s
        self.margin_s = margin_s
        self._clock = clock
        self._rows: dict[tuple[str, str], list[_Row]] = {}
        self._seq = 0
        self._complete_ms = -1
        self._tried = float("-inf")
        self._warned = False
        self._wait = min_interval_s

    def refresh(self) -> int:
        """Read the rows added since the last refresh; returns how many."""
        self._tried = started = self._clock()
        q = select(table).where(table.c.seq > self._seq).order_by(table.c.seq)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
        except Exception as exc:  # the cache answers meanwhile (module doc)
            self._wait = min(MAX_BACKOFF_S, max(2 * self._wait, 1.0))
            (log.debug if self._warned else log.warning)(
                "cotation declarations not read (tried again in %.0f s): %s: %s",
                self._wait, type(exc).__name__, exc)  # fmt: skip
            self._warned = True
            return 0
        self._warned = False
        self._wait = self.min_interval_s
        for r in rows:
            found = Declaration(r.critere, bool(r.valeur), r.auteur, r.date_declaration)
            self._rows.setdefault((r.num_unique, r.epci), []).append(
                (r.seq, _ms(r.recorded_at), r.demande_creee, found)
            )
            self._seq = max(self._seq, r.seq)
        self._complete_ms = int((started - self.margin_s) * 1000)
        return len(rows)

    def __call__(self, num_unique: str, epci: str, cutoff_ms: int,
                 created: date | None = None) -> Mapping[str, Declaration]:  # fmt: skip
        if cutoff_ms > self._complete_ms and self._clock() - self._tried >= self._wait:
            self.refresh()
        out: dict[str, Declaration] = {}
        for _, recorded, life, found in self._rows.get((num_unique, epci), ()):
            # rows in seq order: the latest one wins
            if recorded <= cutoff_ms and of_life(life, found.date, created):
                out[found.critere] = found
        return out
