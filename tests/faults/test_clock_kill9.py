"""Issue 20 on a private broker: the demand's clock moved by ``hub clock tick`` across a
stock with spread renewal deadlines, with renewals and radiations in between, a ``kill -9``
of the worker and a second worker joining (a rebalance) in the middle.

Oracle: ``tests.unit.test_clock._expected``, computed from the demands' dates alone (not
by dispatch code): per recipient and per demand, the exact sequence of its records
(DEMANDE, RADIATION, AVIS with its threshold). After deduplication by (eventId, kind)
each actor's feed must hold exactly that: 0 lost, 0 duplicated, in order with the
demand's other records.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from hub.cli.clock import write_ticks
from hub.domain.actors import Actor, ActorFilters
from reliability.checker import read_feeds, wait_for_record
from reliability.cluster import REPO, PrivateHub, Worker
from tests.unit.test_clock import LE_HAVRE, ROUEN, _expected, _scenario

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def _records(feed: list[dict[str, Any]], nums: set[str]) -> tuple[list[tuple[str, str, str]],
                                                                   int]:  # fmt: skip
    """(the feed's records of ``nums`` after dedup by (eventId, kind), duplicates seen)."""
    seen: set[tuple[str, str]] = set()
    out, dups = [], 0
    for r in feed:
        if r["numUnique"] not in nums:
            continue
        if r["kind"] == "AVIS" and r["reason"] == "cotation":
            continue  # the score's clock (Rouen demands): tests/faults/test_cotation_clock.py
        if (r["eventId"], r["kind"]) in seen:
            dups += 1
            continue
        seen.add((r["eventId"], r["kind"]))
        out.append((r["numUnique"], r["kind"],
                    r["reason"] if r["kind"] == "AVIS" else r["operation"]))
    return out, dups


def _per_demand(records: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str, str]]]:
    by: dict[str, list[tuple[str, str, str]]] = {}
    for r in records:
        by.setdefault(r[0], []).append(r)
    return by


@pytest.mark.timeout(900)
def test_notices_exactly_once_across_kill9_and_rebalance(private_hub: PrivateHub) -> None:
    hub = private_hub
    run = uuid.uuid4().hex[:6]
    names = {"rouen": f"clk-{run}-rouen", "havre": f"clk-{run}-havre", "dep": f"clk-{run}-dep"}
    hub.register([
        Actor(id=names["rouen"], name="r", kind="bailleur", filters=ActorFilters(communes=[ROUEN])),
        Actor(id=names["havre"], name="h", kind="bailleur",
              filters=ActorFilters(communes=[LE_HAVRE])),
        Actor(id=names["dep"], name="d", kind="etat", filters=ActorFilters(departements=["76"]))])
    rng = random.Random(20)
    steps = _scenario(rng, 600)
    expected = _expected(steps)
    nums = {body["numUnique"] for kind, body in steps if kind == "event"}
    ticks = [i for i, (kind, _) in enumerate(steps) if kind == "tick"]
    kill_at, join_at = ticks[len(ticks) // 3], ticks[2 * len(ticks) // 3]

    # the command itself, once (a tick before any due date: sends nothing)
    out = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "clock",
                          "tick", "--now", "2025-10-01"], env=hub.env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0 and "ticked 4 partitions" in out.stdout, out.stderr

    def worker(tag: str, **env: str) -> Worker:
        w = Worker({**hub.env, **env}, hub.home / f"worker-clk-{tag}-{run}.log")
        w.start()
        hub.workers.append(w)
        return w

    async def play(part: list[tuple[str, Any]]) -> None:
        """In stream order: each run of events published (and flushed) before the tick
        after it is written, so every partition holds them in the scenario's order."""
        events: list[dict[str, Any]] = []
        for kind, body in part:
            if kind == "event":
                events.append(body)
                continue
            if events:
                await hub.publish(events)
                events = []
            await write_ticks(hub.settings, body)
        if events:
            await hub.publish(events)

    def mine() -> int:
        feeds = asyncio.run(read_feeds(hub.settings, list(names.values())))
        return sum(len(_records(f, nums)[0]) for f in feeds.values())

    asyncio.run(play(steps[:kill_at]))  # a backlog for the first worker
    before_kill = sum(len(v) for v in _expected(steps[:kill_at]).values())
    # one event per batch: the first worker must still be inside its backlog when the test
    # sees its first output, however fast the machine (a CI run once saw it all done)
    first = worker("1", HUB_WORKER__BATCH_SIZE="1")
    workers = [first]
    try:
        # the first of this test's own records: the new actors' feeds first fill with
        # copies of demands other tests left in their territory (a CI run killed there)
        seen = asyncio.run(wait_for_record(hub.settings, list(names.values()),
                                           lambda r: r["numUnique"] in nums, 180,
                                           first.alive))  # fmt: skip
        assert first.alive(), f"worker died: {first.log}"
        assert seen, "no record of this test's demands within 180 s"
        first.signal(signal.SIGKILL)  # in the middle of the backlog
        done = mine()
        assert 0 < done < before_kill, ("the kill did not come mid-way", done, before_kill)
        workers = [worker("2")]
        asyncio.run(play(steps[kill_at:join_at]))
        workers.append(worker("3"))  # joins: the partitions are shared out again
        asyncio.run(play(steps[join_at:]))
        hub.wait_drained(600)
        assert all(w.alive() for w in workers), [w.log for w in workers]
    finally:
        for w in workers:
            w.signal(signal.SIGTERM)

    feeds = asyncio.run(read_feeds(hub.settings, list(names.values())))
    told = 0
    for short, actor_id in names.items():
        got, dups = _records(feeds[actor_id], nums)
        want = expected[short]
        assert _per_demand(got) == _per_demand(want), (short, dups)
        told += sum(1 for r in got if r[1] == "AVIS")
        print(f"{short}: {len(want)} records expected, {len(got)} after dedup, "
              f"{dups} duplicates before dedup")
    print(f"killed after {done} of the first {before_kill} records")
    assert told > 1000


@pytest.mark.timeout(300)
def test_the_worker_ticks_with_wall_time(private_hub: PrivateHub) -> None:
    """``clock.tick_interval_s`` set: the worker's own timer moves the clock (no ``hub
    clock tick``): demands created 11 months and a day ago get their -2 and -1 months
    notices, not yet their échéance."""
    import datetime as dt

    from tests.support.demandes import demande_event, new_num_unique
    from tests.unit.test_clock import _shift

    hub = private_hub
    actor = Actor(id=f"clk-wall-{uuid.uuid4().hex[:6]}", name="w", kind="bailleur",
                  filters=ActorFilters(communes=[ROUEN]))  # fmt: skip
    hub.register([actor])
    created = _shift(dt.date.today(), -11) - dt.timedelta(days=1)
    events = [demande_event(new_num_unique(), [ROUEN]) for _ in range(5)]
    for ev in events:
        ev["demande"]["demandeLogement"]["dateCreationDemande"] = created.isoformat()
    asyncio.run(hub.publish(events))
    w = Worker({**hub.env, "HUB_CLOCK__TICK_INTERVAL_S": "1"},
               hub.home / f"worker-clk-wall-{uuid.uuid4().hex[:4]}.log")
    w.start()
    hub.workers.append(w)
    nums = {ev["numUnique"] for ev in events}
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert w.alive(), f"worker died: {w.log}"
            feed = asyncio.run(read_feeds(hub.settings, [actor.id]))[actor.id]
            got, _ = _records(feed, nums)
            if sum(1 for r in got if r[1] == "AVIS") >= 10:
                break
            time.sleep(1)
    finally:
        w.signal(signal.SIGTERM)
    assert sorted((n, reason) for n, kind, reason in got if kind == "AVIS") == sorted(
        (n, code) for n in nums for code in ("renouvellement_m-2", "renouvellement_m-1"))
