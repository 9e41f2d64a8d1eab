"""The faust sensor of the dispatch worker: progress, lag and stall state per agent.

faust calls the ``on_*`` hooks for every message; the agent hands each processed
batch's ``BatchStats`` to :meth:`DispatchSensor.on_batch`, so the dispatch code itself
holds no metric calls. :meth:`DispatchSensor.refresh` runs on a worker timer (and on
each ``/health`` request) to turn offsets into lag gauges and stall decisions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from faust import Sensor

from monitoring import metrics as m
from monitoring.health import AgentHealth, StallDetector
from monitoring.recorder import record_batch

if TYPE_CHECKING:
    from dispatch.processor import BatchStats

log = logging.getLogger(__name__)


class DispatchSensor(Sensor):
    """Feeds the per-agent metrics of :mod:`monitoring.metrics`.

    ``agents`` maps each input topic to the name of the agent reading it; records of
    other topics (the table changelog, ...) are ignored.
    """

    def __init__(self, *, group: str, agents: Mapping[str, str], stall_after_s: float,
                 clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group = group
        self.agents = dict(agents)
        self.detector = StallDetector(stall_after_s, clock)
        #: next offset to process per assigned input partition (TP -> offset)
        self._next: dict[Any, int] = {}
        self._lag_series: set[tuple[str, str]] = set()

    # -- faust hooks ---------------------------------------------------------------------
    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """A record is fully processed (acknowledged): the agent made progress."""
        agent = self.agents.get(tp.topic)
        if agent is None:
            return
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)
        m.AGENT_LAST_EVENT.labels(agent=agent).set(self.detector.progress(agent))

    def on_rebalance_end(self, app: Any, state: Any) -> None:
        # New partitions: positions restart from the committed offsets, and idle time
        # counts from now (recovering a partition is not a stall).
        self._next.clear()
        for agent in set(self.agents.values()):
            self.detector.started(agent)

    # -- dispatch hook -------------------------------------------------------------------
    def on_batch(self, stats: BatchStats) -> None:
        """One batch done, its feed writes acknowledged."""
        record_batch(stats)

    # -- periodic ------------------------------------------------------------------------
    def refresh(self, consumer: Any) -> dict[str, AgentHealth]:
        """Update lag and assignment gauges from ``consumer``; return health per agent."""
        try:
            assigned = {tp for tp in consumer.assignment() if tp.topic in self.agents}
        except Exception:  # consumer not started yet: nothing assigned
            assigned = set()
        # faust keeps the committed (next-to-read) offsets privately and has no getter;
        # they matter only before this worker processed anything on a partition.
        committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
        lags = dict.fromkeys(set(self.agents.values()), 0)
        series: set[tuple[str, str]] = set()
        per_topic = dict.fromkeys(self.agents, 0)
        for tp in assigned:
            per_topic[tp.topic] += 1
            try:
                high = consumer.highwater(tp)
            except Exception:  # revoked meanwhile
                high = None
            if high is None:  # no fetch answered yet: unknown, not zero
                continue
            position = max(self._next.get(tp, 0), committed.get(tp) or 0)
            lag = max(int(high) - position, 0)
            lags[self.agents[tp.topic]] += lag
            labels = (tp.topic, str(tp.partition))
            series.add(labels)
            m.CONSUMER_LAG.labels(topic=labels[0], partition=labels[1], group=self.group).set(lag)
        for topic, partition in self._lag_series - series:
            m.CONSUMER_LAG.remove(topic, partition, self.group)
        self._lag_series = series
        for topic, n in per_topic.items():
            m.ASSIGNED_PARTITIONS.labels(topic=topic).set(n)
        health = {agent: self.detector.evaluate(agent, lag) for agent, lag in lags.items()}
        for agent, h in health.items():
            m.AGENT_STALLED.labels(agent=agent).set(1 if h.stalled else 0)
            if h.stalled:
                log.warning("agent %s stalled: lag %d, idle %.0fs", agent, h.lag, h.idle_s)
        return health
