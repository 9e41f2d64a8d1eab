"""What ``/health`` decides, from the group's **committed** offsets (issue 19).

A live process is not enough, and neither is the agent's read position: a worker can read
on while its commits are stuck (records lost in flight, a batch that never settles), and
the lag it computed from what it read said 0. So health is judged on what the broker
holds for the consumer group:

* a partition is **stalled** when input waits on it (end offset > committed offset) and
  its committed offset has not moved for ``stall_after_s`` (counted from when this worker
  got the partition, so a worker that just joined is not stalled at once);
* the **broker is unreachable** when the offsets could not be read for
  ``broker_unreachable_after_s`` since the first attempt (a worker still starting, before
  its first reading, is not judged);
* an agent that crashed stops the worker process (``dispatch/runtime/app.py``): then ``/health``
  does not answer at all, which every probe counts as a failure.

Pure and clocked: :class:`CommitWatch` is fed readings and asked for a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: (topic, partition)
Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionHealth:
    topic: str
    partition: int
    #: committed offset of the group (None: nothing committed yet, i.e. from the start)
    committed: int | None
    end: int
    #: seconds since the committed offset last moved (or the partition was assigned)
    unmoved_s: float
    stalled: bool
    #: the log's first offset when nothing is committed (records below it are gone)
    start: int = 0

    @property
    def lag(self) -> int:
        """Records not yet committed by the group: end offset − committed offset (− the
        log's first offset when nothing is committed)."""
        return max(self.end - (self.start if self.committed is None else self.committed), 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "unmoved_seconds": round(self.unmoved_s, 3),
            "stalled": self.stalled,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    partitions: tuple[PartitionHealth, ...]
    #: seconds since the offsets were last read (None: read at the last attempt)
    broker_silent_s: float | None
    broker_unreachable: bool
    #: agent name -> its partitions' health
    agents: Mapping[str, tuple[PartitionHealth, ...]]

    @property
    def healthy(self) -> bool:
        return not self.broker_unreachable and not any(p.stalled for p in self.partitions)

    def stalled_agents(self) -> list[str]:
        return sorted(a for a, ps in self.agents.items() if any(p.stalled for p in ps))


class CommitWatch:
    """Remembers, per assigned input partition, when its committed offset last moved."""

    def __init__(self, stall_after_s: float, broker_unreachable_after_s: float,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self.stall_after_s = stall_after_s
        self.broker_unreachable_after_s = broker_unreachable_after_s
        self._clock = clock
        #: partition -> (committed offset seen, time it was first seen)
        self._seen: dict[Partition, tuple[int | None, float]] = {}
        #: partition -> when a reading first saw input waiting on it (since then without
        #: a reading that saw none): a partition idle for longer than the stall delay is
        #: not stalled by a record that has just landed (audit S, S-F1)
        self._waiting_since: dict[Partition, float] = {}
        #: when the offsets were last read; None until the first attempt (starting)
        self._last_read: float | None = None
        self._last: dict[Partition, tuple[int | None, int, int]] = {}

    def assigned(self, partitions: Iterable[Partition]) -> None:
        """New assignment: times count from now for the partitions not held before."""
        now, keep = self._clock(), set(partitions)
        self._seen = {p: v for p, v in self._seen.items() if p in keep}
        self._waiting_since = {p: t for p, t in self._waiting_since.items() if p in keep}
        for p in keep - self._seen.keys():
            self._seen[p] = (self._last.get(p, (None, 0, 0))[0], now)

    def attempted(self) -> None:
        """A reading is being attempted: from now on, silence counts."""
        if self._last_read is None:
            self._last_read = self._clock()

    def read(self, offsets: Mapping[Partition, tuple[int | None, int, int]]) -> None:
        """A successful reading: (committed, end, log start when nothing is committed)
        per assigned partition (:data:`monitoring.offsets.Offsets`)."""
        now = self._clock()
        self._last_read = now
        self._last = dict(offsets)
        for p, (committed, end, start) in offsets.items():
            before = self._seen.get(p)
            if before is None or before[0] != committed:
                self._seen[p] = (committed, now)
            if end > (start if committed is None else committed):
                self._waiting_since.setdefault(p, now)
            else:
                self._waiting_since.pop(p, None)

    def verdict(self, agents: Mapping[str, str]) -> Verdict:
        """``agents`` maps input topic -> agent name."""
        now = self._clock()
        parts: list[PartitionHealth] = []
        for (topic, partition), (committed, end, start) in sorted(self._last.items()):
            if (topic, partition) not in self._seen:
                continue  # no longer assigned
            since = self._seen[(topic, partition)][1]
            unmoved = now - since
            waiting = end > (start if committed is None else committed)
            # stalled: input waited, unread, for the whole delay — timed from the later of
            # the last move and the moment input began to wait
            waited = now - max(since, self._waiting_since.get((topic, partition), since))
            parts.append(PartitionHealth(topic, partition, committed, end, unmoved,
                                         waiting and waited > self.stall_after_s,
                                         start if committed is None else 0))  # fmt: skip
        silent = 0.0 if self._last_read is None else now - self._last_read
        by_agent: dict[str, tuple[PartitionHealth, ...]] = {a: () for a in agents.values()}
        for p in parts:
            agent = agents.get(p.topic)
            if agent is not None:
                by_agent[agent] = (*by_agent[agent], p)
        return Verdict(tuple(parts), round(silent, 3),
                       silent > self.broker_unreachable_after_s, by_agent)  # fmt: skip


def report(verdict: Verdict) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body of ``/health``: 503 when a partition is stalled or the
    broker unreachable."""
    stalled = verdict.stalled_agents()
    status = "ok"
    if verdict.broker_unreachable:
        status = "broker_unreachable"
    elif stalled:
        status = "stalled"
    body: dict[str, object] = {
        "status": status,
        "stalled": stalled,
        "broker": {"unreachable": verdict.broker_unreachable,
                   "seconds_since_offsets_read": verdict.broker_silent_s},
        "agents": {a: {"lag": sum(p.lag for p in ps), "stalled": any(p.stalled for p in ps)}
                   for a, ps in sorted(verdict.agents.items())},
        "partitions": {f"{p.topic}/{p.partition}": p.as_dict() for p in verdict.partitions},
    }  # fmt: skip
    return (200 if verdict.healthy else 503), body
