"""Stall detection: an agent is unhealthy when it has input waiting and makes no progress.

A live process is not enough: a worker whose agent crashed, or is stuck on a remote call,
still answers HTTP. Stalled means *input lag > 0 and no record finished for
``stall_after_s`` seconds* (counted from the later of the last progress and the moment
the agent got its partitions, so a worker that just joined is not stalled at once).
An agent with no lag is healthy however long it has been idle: nothing to do is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgentHealth:
    agent: str
    lag: int
    #: seconds since the agent last finished a record (or got its partitions)
    idle_s: float
    stalled: bool

    def as_dict(self) -> dict[str, object]:
        return {"lag": self.lag, "idle_seconds": round(self.idle_s, 3), "stalled": self.stalled}


class StallDetector:
    """Tracks progress per agent; :meth:`evaluate` decides stalled or not (pure, clocked)."""

    def __init__(self, stall_after_s: float, clock: Callable[[], float]) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._since: dict[str, float] = {}
        self.last_progress: dict[str, float] = {}

    def started(self, agent: str) -> None:
        """The agent got (new) partitions: idle time counts from now."""
        self._since[agent] = self._clock()

    def progress(self, agent: str) -> float:
        """The agent finished a record; returns the time recorded."""
        now = self._clock()
        self.last_progress[agent] = now
        return now

    def evaluate(self, agent: str, lag: int) -> AgentHealth:
        now = self._clock()
        since = self._since.setdefault(agent, now)
        idle = now - max(self.last_progress.get(agent, since), since)
        return AgentHealth(agent, lag, idle, lag > 0 and idle > self.stall_after_s)


def report(agents: Mapping[str, AgentHealth]) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body of ``/health``: 503 as soon as one agent is stalled."""
    stalled = sorted(a for a, h in agents.items() if h.stalled)
    body: dict[str, object] = {
        "status": "stalled" if stalled else "ok",
        "stalled": stalled,
        "agents": {a: h.as_dict() for a, h in sorted(agents.items())},
    }
    return (503 if stalled else 200), body
