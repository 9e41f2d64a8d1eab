"""Fault injection while a backfill drains: the faults, and when they strike.

Faults strike at random points of the run, measured as a fraction of the feed records
owed (the sum of the actors' feed end offsets, duplicates included). After each fault the
harness restarts what a supervisor would restart (a worker that exited) and measures the
**recovery time**: seconds from the fault's end (restart issued, broker back) until the
feeds grow again.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.core.errors import TransientError
from reliability.cluster import PrivateHub, Worker

#: one fault: what it does to the hub; returns when the hub was told to recover
Fault = Callable[["Run"], None]


@dataclass(slots=True)
class Run:
    hub: PrivateHub
    actor_ids: list[str]
    owed: int
    timeout_s: float
    main: Worker | None = None
    extra: Worker | None = None
    recoveries: list[float] = field(default_factory=list)
    #: workers that exited on their own (not by a fault) and were restarted
    unexpected_exits: int = 0
    faults: list[str] = field(default_factory=list)

    def total(self) -> int:
        return self.hub.feed_total(self.actor_ids)

    def supervise(self) -> None:
        """Restart the main worker if it exited on its own (as systemd/k8s would)."""
        if self.main is None or not self.main.alive():
            if self.main is not None:
                self.unexpected_exits += 1
            self.main = self.hub.start_worker()

    def wait_total(self, target: int, *, what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.total() < target:
            if time.monotonic() > deadline:
                raise TransientError(f"{what}: feeds stuck below {target} records")
            self.supervise()
            time.sleep(0.2)


def kill9(run: Run) -> None:
    assert run.main is not None
    run.main.signal(signal.SIGKILL)
    run.main = run.hub.start_worker()


def sigterm(run: Run) -> None:
    assert run.main is not None
    run.main.signal(signal.SIGTERM)
    run.main = run.hub.start_worker()


def broker_restart(run: Run) -> None:
    """Stop the broker cleanly mid-stream, leave it down a few seconds, start it again;
    the workers stay up and must reconnect by themselves."""
    run.hub.stack.down()
    time.sleep(3)
    run.hub.stack.up(timeout=120)


def join(run: Run) -> None:
    """A second worker joins the group (rebalance)."""
    if run.extra is None or not run.extra.alive():
        run.extra = run.hub.start_worker()


def leave(run: Run) -> None:
    """The second worker leaves (clean shutdown: another rebalance)."""
    if run.extra is not None:
        run.extra.signal(signal.SIGTERM)
        run.extra = None


FAULTS: dict[str, Fault] = {"kill9": kill9, "sigterm": sigterm, "broker": broker_restart,
                            "join": join, "leave": leave}  # fmt: skip


def strike(run: Run, schedule: list[str], rng: random.Random, *,
           low: float = 0.05, high: float = 0.9) -> None:  # fmt: skip
    """Apply the faults of ``schedule`` in order, each at a random point of the stream."""
    points = sorted(rng.uniform(low, high) for _ in schedule)
    run.supervise()
    for name, point in zip(schedule, points, strict=True):
        run.wait_total(max(1, int(point * run.owed)), what=f"before {name}")
        at = run.total()
        FAULTS[name](run)
        run.faults.append(name)
        _recover(run, at, name)


def _recover(run: Run, at: int, name: str) -> None:
    """Time until the feeds grow past ``at``; nothing is recorded when the fault struck
    after the last output (inputs all committed: there is nothing left to recover)."""
    t0 = time.monotonic()
    deadline = t0 + run.timeout_s
    while run.total() <= at:
        if time.monotonic() > deadline:
            raise TransientError(f"no output within {run.timeout_s:g}s after {name}")
        try:
            end, done = run.hub.progress()
            if end > 0 and done >= end:
                return
        except TransientError:
            pass
        run.supervise()
        time.sleep(0.2)
    run.recoveries.append(time.monotonic() - t0)


def every(run: Run, names: list[str], period_s: float, until: Callable[[], bool]) -> None:
    """Apply ``names`` in a cycle every ``period_s`` seconds until ``until()`` (the
    rebalance storm of the full run: a worker joins, then leaves, every 30 s)."""
    run.supervise()
    i = 0
    while not until():
        time.sleep(period_s)
        if until():
            break
        at = run.total()
        name = names[i % len(names)]
        FAULTS[name](run)
        run.faults.append(name)
        _recover(run, at, name)
        i += 1
