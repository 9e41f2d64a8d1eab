"""Issue 22 on a private broker: a département-wide actor registered over an existing stock
gets exactly its copies, in order per demand, across a kill -9 in the middle of its
re-dispatch — which goes in chunks (``worker.redispatch_chunk`` index entries per batch,
continued through DispatchResume records), so it is still running when the worker dies.

Oracle: the ledger's delivery contract (``reliability.ledger.in_scope``) over the final
version of each demand, independent of the dispatch code. Other demand events keep
arriving during the re-dispatch (a trickle), and must be dispatched as usual.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import pytest

from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from reliability.checker import read_feeds
from reliability.cluster import PrivateHub, Worker
from reliability.ledger import generate, in_scope

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def _wishes(ev: dict[str, Any]) -> tuple[list[str], list[str]]:
    lr = ev["demande"]["demandeLogement"]["logementRecherche"]
    return [w["commune"] for w in lr["listeLocalisationSouhaite"]], list(lr["listeTypeLogement"])


@pytest.mark.timeout(600)
def test_a_redispatch_killed_midway_still_delivers_exactly(private_hub: PrivateHub) -> None:
    hub, geo = private_hub, get_geography()
    dep = "22"
    ledger = generate(geo, events=4_000, seed=22, departement=dep, actors=3,
                      prefix=f"rd-{uuid.uuid4().hex[:6]}")  # fmt: skip
    hub.register(ledger.actors)
    stock, trickle = ledger.events[:3_600], ledger.events[3_600:]
    asyncio.run(hub.publish(stock))
    # 50 entries per link, each partition its own chain: ~10 links per partition
    env = {**hub.env, "HUB_WORKER__REDISPATCH_CHUNK": "50"}
    worker = Worker(env, hub.home / f"worker-rd-{uuid.uuid4().hex[:4]}.log")
    worker.start()
    hub.workers.append(worker)
    late = Actor(id=f"rd-late-{uuid.uuid4().hex[:6]}", name="late", kind="etat",
                 filters=ActorFilters(departements=[dep]))  # fmt: skip
    try:
        hub.wait_drained(300)
        hub.register([late])  # its re-dispatch starts: ~2,000 copies in chunks
        asyncio.run(hub.publish(trickle[:200]))
        deadline = time.monotonic() + 120
        while hub.feed_total([late.id]) < 300 and time.monotonic() < deadline:
            assert worker.alive(), f"worker died: {worker.log}"
            time.sleep(0.1)
        assert hub.feed_total([late.id]) < 1_500, "re-dispatch ended before the kill"
        worker.signal(signal.SIGKILL)
        worker = Worker(env, hub.home / f"worker-rd-{uuid.uuid4().hex[:4]}.log")
        worker.start()
        hub.workers.append(worker)
        asyncio.run(hub.publish(trickle[200:]))
        hub.wait_drained(300)  # the DispatchResume records included
        assert worker.alive(), f"worker died: {worker.log}"
    finally:
        worker.signal(signal.SIGTERM)

    last: dict[str, dict[str, Any]] = {}
    for ev in ledger.events:
        last[ev["numUnique"]] = ev
    expected = {num for num, ev in last.items()
                if ev["operation"] != "RAD" and in_scope(late, *_wishes(ev), geo)}  # fmt: skip
    feed = asyncio.run(read_feeds(hub.settings, [late.id]))[late.id]
    held: set[str] = set()
    versions: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for r in feed:  # at-least-once: a record sent again after the kill is a duplicate
        if (r["eventId"], r["kind"]) in seen:
            continue
        seen.add((r["eventId"], r["kind"]))
        num = r["numUnique"]
        assert r["demandeVersion"] >= versions.get(num, 0), f"{num} out of order"
        versions[num] = r["demandeVersion"]
        if r["kind"] in ("DEMANDE", "COPIE"):
            held.add(num)
        else:
            held.discard(num)
    assert expected and held == expected, (len(held), len(expected),
                                           sorted(held ^ expected)[:5])  # fmt: skip
    copies = {r["numUnique"] for r in feed if r["kind"] == "COPIE"}
    assert len(copies) > 1_000  # the stock came as copies
    assert topics.feed_topic(late.id)
