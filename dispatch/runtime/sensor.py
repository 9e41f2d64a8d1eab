"""The faust sensor of the dispatch worker: progress, lag and stall state per agent.

faust calls the ``on_*`` hooks for every message; the agent hands each processed
batch's ``BatchStats`` to :meth:`DispatchSensor.on_batch`, so the dispatch code itself
holds no metric calls. :meth:`DispatchSensor.refresh` runs on a worker timer to read the
group's committed offsets into lag gauges and the health verdict that ``/health`` serves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from faust import Sensor

from dispatch.recording import record_batch
from hub.core import topics
from monitoring import metrics as m
from monitoring.health import CommitWatch, Verdict
from monitoring.recorder import process_start_time, worker_started

if TYPE_CHECKING:
    from dispatch.processor import BatchStats
    from monitoring.offsets import GroupOffsets

log = logging.getLogger(__name__)

#: the worker's input topics (dispatch.runtime.app: one agent reads both)
INPUT_TOPICS = (topics.DEMANDES, topics.EVENEMENTS)


class DispatchSensor(Sensor):
    """Feeds the per-agent metrics of :mod:`monitoring.metrics`.

    ``agents`` maps each input topic to the name of the agent reading it; records of
    other topics (the table changelog, ...) are ignored. Lag and health come from the
    group's committed offsets (:mod:`monitoring.health`), read by :meth:`refresh`.
    """

    def __init__(self, *, group: str, agents: Mapping[str, str], stall_after_s: float,
                 broker_unreachable_after_s: float = 20.0,
                 clock: Callable[[], float] = time.time, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.group = group
        self.agents = dict(agents)
        self.watch = CommitWatch(stall_after_s, broker_unreachable_after_s, clock)
        self._clock = clock
        self._lag_series: set[tuple[str, str]] = set()
        self._assigned: frozenset[tuple[str, int]] = frozenset()
        #: what the last refresh logged as stalled / silent (a line on each change only)
        self._stalled: set[tuple[str, int]] = set()
        self._silent = False
        #: an unmoved partition is probed for absent offsets after this long (well before
        #: it counts as stalled), and then at most this often (:meth:`_probe_absent`)
        self.probe_after_s = min(10.0, stall_after_s / 3)
        self._probed: dict[tuple[str, int], float] = {}
        # the series alerts need from the start (monitoring.recorder.worker_started): the
        # removed-records and dead-letter counters at 0, the last event at the start
        started = process_start_time()
        worker_started(INPUT_TOPICS, set(self.agents.values()),
                       started if started is not None else clock())  # fmt: skip

    # -- faust hooks ---------------------------------------------------------------------
    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """A record is fully processed (acknowledged): the agent made progress."""
        agent = self.agents.get(tp.topic)
        if agent is not None:
            m.AGENT_LAST_EVENT.labels(agent=agent).set(self._clock())

    # -- dispatch hook -------------------------------------------------------------------
    def on_batch(self, stats: BatchStats) -> None:
        """One batch done, its feed writes acknowledged."""
        record_batch(stats)

    # -- periodic ------------------------------------------------------------------------
    async def refresh(self, consumer: Any, offsets: GroupOffsets) -> Verdict:
        """Read the group's committed and end offsets of the partitions assigned to this
        worker; update the lag, assignment and health gauges; return the verdict."""
        try:
            assigned = frozenset((tp.topic, tp.partition) for tp in consumer.assignment()
                                 if tp.topic in self.agents)  # fmt: skip
        except Exception:  # consumer not started yet: nothing assigned
            assigned = frozenset()
        if assigned != self._assigned:
            self._assigned = assigned
            self.watch.assigned(assigned)
        self.watch.attempted()
        reading = await offsets.read(assigned)
        if reading is not None:
            self.watch.read(reading)
        verdict = self.watch.verdict(self.agents)
        await self._probe_absent(verdict, consumer, offsets)
        self._publish(verdict, assigned, consumer)
        return verdict

    async def _probe_absent(self, verdict: Verdict, consumer: Any, offsets: GroupOffsets) -> None:
        """A partition with input waiting whose committed offset has not moved for
        ``probe_after_s`` is read from there (committed records only): if no record comes
        before the first one the read returns, the offsets in between are transaction
        markers, aborted or compacted records: the consumer counts them as consumed
        (``BoundedConsumer.skip_absent``) and commits. A partition whose log ends on such offsets is
        then committed to its end instead of showing a lag, and stalled, for ever. A
        partition is probed at most once per ``probe_after_s``; a real record found
        changes nothing (a really stuck partition stays stalled). A committed offset below
        the log's first one (records removed before they were read, which the guard does
        not always see: a queue clear may reset it past them) is read from the log's start,
        the removed offsets reported (``BoundedConsumer.note_removed``) and skipped."""
        skip = getattr(consumer, "skip_absent", None)
        if skip is None:
            return
        now = self._clock()
        for p in verdict.partitions:
            key = (p.topic, p.partition)
            if (
                p.lag == 0
                or p.unmoved_s < self.probe_after_s
                or now - self._probed.get(key, float("-inf")) < self.probe_after_s
            ):
                continue
            self._probed[key] = now
            # nothing committed: from the log's first offset (a new group over a log that
            # holds aborted transactions only, say)
            begin = p.start if p.committed is None else p.committed
            probed = await offsets.first_record(key, begin, p.end)
            if probed is None or probed.first <= begin:
                continue
            from faust.types import TP

            tp = TP(p.topic, p.partition)
            if probed.log_start > begin:  # below the log's start: removed, not absent
                consumer.note_removed(tp, begin, probed.log_start)
            if skip(tp, begin, probed.first, committed=p.committed):
                await consumer.commit({tp})  # now, not at faust's next interval

    def verdict(self) -> Verdict:
        """The verdict now, from the last reading (no broker call: ``/health`` answers at
        once, and a reading that hangs shows as a broker growing silent)."""
        return self.watch.verdict(self.agents)

    @staticmethod
    def _reading(consumer: Any, topic: str, partition: int) -> str:
        """How far the worker reads the partition (``BoundedConsumer.reading_state``)."""
        describe = getattr(consumer, "reading_state", None)
        if describe is None:
            return "reading state unknown"
        from faust.types import TP

        return str(describe(TP(topic, partition)))

    def _publish(self, verdict: Verdict, assigned: frozenset[tuple[str, int]],
                 consumer: Any = None) -> None:  # fmt: skip
        series: set[tuple[str, str]] = set()
        for p in verdict.partitions:
            labels = (p.topic, str(p.partition))
            series.add(labels)
            m.CONSUMER_LAG.labels(topic=labels[0], partition=labels[1], group=self.group
                                  ).set(p.lag)  # fmt: skip
        for topic, partition in self._lag_series - series:
            m.CONSUMER_LAG.remove(topic, partition, self.group)
        self._lag_series = series
        for topic in self.agents:
            m.ASSIGNED_PARTITIONS.labels(topic=topic).set(sum(1 for t, _ in assigned if t == topic))
        m.BROKER_UNREACHABLE.set(1 if verdict.broker_unreachable else 0)
        stalled = set(verdict.stalled_agents())
        for agent in set(self.agents.values()):
            m.AGENT_STALLED.labels(agent=agent).set(1 if agent in stalled else 0)
        # one line when a partition becomes stalled (or the broker silent), not one a refresh
        now_stalled = {(p.topic, p.partition) for p in verdict.partitions if p.stalled}
        for p in verdict.partitions:
            if p.stalled and (p.topic, p.partition) not in self._stalled:
                log.warning("input %s/%d stalled: committed offset %s unmoved for %.0f s, "
                            "lag %d; %s", p.topic, p.partition, p.committed, p.unmoved_s,
                            p.lag, self._reading(consumer, p.topic, p.partition))  # fmt: skip
        for moving in sorted(self._stalled - now_stalled):
            log.warning("input %s/%d moves again", *moving)
        self._stalled = now_stalled
        if verdict.broker_unreachable and not self._silent:
            log.warning(
                "broker unreachable: offsets not read for %.0f s", verdict.broker_silent_s or 0
            )
        elif self._silent and not verdict.broker_unreachable:
            log.warning("broker answers again")
        self._silent = verdict.broker_unreachable
