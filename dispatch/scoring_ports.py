"""The worker's scoring and its quartile port (issue 20 points 2, 4; docs/cotation.md,
"The score in the feed").

:func:`worker_scoring` builds the :class:`~dispatch.cotation.Scoring` the dispatch worker
installs: the shipped grids, the partners' declarations through
:class:`~dispatch.declarations.CachedDeclarations`, and the quartile thresholds of the
statistics store (:meth:`hub.stores.statistics.store.StatisticsStore.seuils`, folded by
``hub stats fold``) through :class:`CachedSeuils`.

Why a cache: the store computes an EPCI's thresholds from the resources of every active
demand wishing it (one query over the population); the worker asks for them on every
scored record. :class:`CachedSeuils` keeps each EPCI's answer ``ttl_s`` seconds. A store
that cannot be read answers None (the population criteria are then ``indetermine``) and is
asked again after ``ttl_s``; the previous answer, when there is one, is kept meanwhile.

Determinism: the thresholds move with the population, so a record replayed later may
carry a different ``RESSOURCES_Q1``/``Q2`` verdict than its first copy (the same event id:
consumers keep one). Everything else in the score is a function of the stored state, the
record's ``occurredAt`` and the declarations recorded before it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dispatch.cotation import Scoring, SeuilsPort
from dispatch.declarations import CachedDeclarations
from hub.core.db import make_engine
from hub.domain.cotation import SeuilsQuartiles
from hub.stores.statistics.store import StatisticsStore

log = logging.getLogger(__name__)


class CachedSeuils:
    """See the module doc."""

    def __init__(self, source: SeuilsPort, *, ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.source = source
        self.ttl_s = ttl_s
        self._clock = clock
        self._known: dict[str, tuple[float, SeuilsQuartiles | None]] = {}

    def __call__(self, epci: str) -> SeuilsQuartiles | None:
        now = self._clock()
        found = self._known.get(epci)
        if found is not None and now - found[0] < self.ttl_s:
            return found[1]
        try:
            value = self.source(epci)
        except Exception as exc:  # kept or unknown until the next try (module doc)
            log.warning("quartile thresholds of EPCI %s not read: %s: %s", epci,
                        type(exc).__name__, exc)  # fmt: skip
            value = found[1] if found is not None else None
        self._known[epci] = (now, value)
        return value


def worker_scoring(database_url: str) -> Scoring:
    """The worker's scoring (module doc), on the hub's database."""
    engine = make_engine(database_url)
    return Scoring(declarations=CachedDeclarations(engine),
                   seuils=CachedSeuils(StatisticsStore(engine)))  # fmt: skip
