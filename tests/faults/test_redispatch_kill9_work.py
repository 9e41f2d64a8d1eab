"""Independent audit E, E4, on a private broker: a ``kill -9`` in the middle of a
re-dispatch must not multiply its work. Before dispatch/chains.py every ``DispatchResume``
the restarted worker read again (its offset not committed at the kill) started another
copy of its chain: with chunks of 5 entries over 720 demands the restarted worker handled
1.5 million inputs, where the change costs ~1,500 without the kill.

Work is counted, not timed: the ``DispatchControl``/``DispatchResume`` inputs a worker
handled (``passerelle_events_in_total{operation="CONTROL"}`` on its /metrics). A first
actor over the département is re-dispatched without a crash (the reference count); a
second one with the same filters is killed midway and its restarted worker's count must
stay within a small multiple of the reference (links passed on whole vary with how the
batches fall: a factor, not a growth with the replayed links). Both actors end up
holding the same demands, in order per demand.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import pytest

from hub.core import topics
from hub.core.errors import TransientError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from reliability.checker import read_feeds
from reliability.cluster import PrivateHub, Worker
from reliability.ledger import generate
from tests.support.worker_metrics import sample, scrape

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

DEP = "29"  # a département no other fault test uses
#: the restarted worker's re-dispatch inputs, at most this many times the reference's
FACTOR = 4


def _controls(worker: Worker) -> float:
    """The re-dispatch inputs (controls and resume records) ``worker`` handled so far."""
    port = int(worker.env["HUB_WORKER__WEB_PORT"])
    return sample(scrape(port), "passerelle_events_in_total", topic=topics.DEMANDES,
                  operation="CONTROL")  # fmt: skip


def _drained_within(hub: PrivateHub, worker: Worker, limit: float, timeout: float) -> float:
    """Wait until every input is committed; fail as soon as ``worker`` handled more than
    ``limit`` re-dispatch inputs (a forked chain never drains in time). Its count."""
    deadline = time.monotonic() + timeout
    while True:
        assert worker.alive(), f"worker died: {worker.log}"
        try:
            count = _controls(worker)
        except OSError:  # not listening yet
            count = 0.0
        assert count <= limit, f"{count:.0f} re-dispatch inputs after the restart (> {limit})"
        try:
            end, done = hub.progress()
        except TransientError:  # the broker busy: asked again
            end, done = 0, 0
        if end > 0 and done >= end:
            return _controls(worker)
        assert time.monotonic() < deadline, hub.diagnosis()
        time.sleep(0.5)


def _holdings(feed: list[dict[str, Any]]) -> set[str]:
    """What a consumer holds, duplicates dropped; per demand, versions never go back."""
    held: set[str] = set()
    versions: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for r in feed:
        if (r["eventId"], r["kind"]) in seen:
            continue
        seen.add((r["eventId"], r["kind"]))
        num = r["numUnique"]
        assert r["demandeVersion"] >= versions.get(num, 0), f"{num} out of order"
        versions[num] = r["demandeVersion"]
        (held.add if r["kind"] in ("DEMANDE", "COPIE") else held.discard)(num)
    return held


@pytest.mark.timeout(900)
def test_a_kill_during_a_redispatch_costs_a_bounded_replay(private_hub: PrivateHub) -> None:
    hub, geo = private_hub, get_geography()
    tag = uuid.uuid4().hex[:6]
    ledger = generate(geo, events=2_400, seed=29, departement=DEP, actors=1,
                      prefix=f"rdw-{tag}")  # fmt: skip
    hub.register(ledger.actors)
    asyncio.run(hub.publish(ledger.events))
    # chunks of 5 entries, one chunk per batch: a long chain per partition
    env = {**hub.env, "HUB_WORKER__REDISPATCH_CHUNK": "5"}
    first = Worker(env, hub.home / f"worker-rdw-{tag}-1.log")
    first.start()
    hub.workers.append(first)
    reference, killed = (Actor(id=f"rdw-{tag}-{name}", name=name, kind="etat",
                               filters=ActorFilters(departements=[DEP]))
                         for name in ("ref", "killed"))  # fmt: skip
    try:
        hub.wait_drained(300)
        before = _controls(first)
        hub.register([reference])  # the crash-free re-dispatch
        hub.wait_drained(300)
        time.sleep(2)  # the last batches recorded in the metrics
        crash_free = _controls(first) - before
        copies = hub.feed_total([reference.id])
        assert copies > 500 and crash_free > copies / 5, (copies, crash_free)

        hub.register([killed])
        deadline = time.monotonic() + 120
        while hub.feed_total([killed.id]) < copies // 4 and time.monotonic() < deadline:
            assert first.alive(), f"worker died: {first.log}"
            time.sleep(0.05)
        assert hub.feed_total([killed.id]) < copies * 3 // 4, "re-dispatch ended before the kill"
        first.signal(signal.SIGKILL)
        second = Worker(env, hub.home / f"worker-rdw-{tag}-2.log")
        second.start()
        hub.workers.append(second)
        after = _drained_within(hub, second, FACTOR * crash_free, 600)
    finally:
        for w in hub.workers[-2:]:
            w.signal(signal.SIGTERM)
    dropped = second.log.read_text(errors="replace").count("(a copy read again after a crash)")
    print(
        f"re-dispatch inputs: crash-free {crash_free:.0f}, after the restart {after:.0f} "
        f"({dropped} copies dropped); copies {copies}"
    )
    feeds = asyncio.run(read_feeds(hub.settings, [reference.id, killed.id]))
    assert _holdings(feeds[killed.id]) == _holdings(feeds[reference.id])
