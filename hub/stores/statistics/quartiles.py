"""The quartile port for hot paths: :class:`CachedSeuils`, the EPCI's thresholds from the
statistics' facts (:meth:`StatisticsStore.seuils`), each kept ``ttl_s`` seconds.

It is the :class:`~hub.domain.statistics.SeuilsSource` (``EPCI -> SeuilsQuartiles | None``)
a caller scoring many demands plugs in — the dispatch worker's scoring
(``dispatch.cotation``'s ``SeuilsPort``), the API — instead of one query per score: the
thresholds of a population of thousands move slowly, a few minutes late is within what a
yearly-renewed demand's score can notice.

Contracts: ``None`` when the thresholds are withheld (fewer than 11 applicants with known
resources) or unknown; a database outage answers ``None`` too (logged: a score without
the population criteria, ``indetermine``, rather than no score), and is asked again at the
next call. Thread-safe (one lock around the cache; the query runs outside it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hub.core.errors import TransientError
from hub.domain.cotation import SeuilsQuartiles
from hub.stores.statistics.store import StatisticsStore

log = logging.getLogger(__name__)


class CachedSeuils:
    def __init__(self, store: StatisticsStore, ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.store, self.ttl_s, self.clock = store, ttl_s, clock
        self._cache: dict[str, tuple[float, SeuilsQuartiles | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, epci: str) -> SeuilsQuartiles | None:
        now = self.clock()
        with self._lock:
            found = self._cache.get(epci)
        if found is not None and now - found[0] < self.ttl_s:
            return found[1]
        try:
            seuils = self.store.seuils(epci)
        except TransientError as exc:
            log.warning("quartile thresholds of %s not read: %s", epci, exc.message)
            return None
        with self._lock:
            self._cache[epci] = (now, seuils)
        return seuils
