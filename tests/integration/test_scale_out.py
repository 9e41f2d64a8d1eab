"""Scale-out: a second `hub worker` in the same consumer group takes over part of the
partitions of hub.demandes, and every actor's feed is exactly what one worker produces.

Delivery is at-least-once: the rebalance when the second worker joins (or leaves) may
replay inputs whose offsets were not committed yet, and a replay re-sends the same feed
records with the same eventId. So the feed is compared after dedup by (eventId, kind),
and the order of versions per demand is checked on the first occurrences.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import WorkerProcess, collect_feed
from tests.support.demandes import demande_event, new_num_unique
from tests.support.worker_metrics import owned_partitions, sample, scrape

pytestmark = pytest.mark.kafka

SOTTEVILLE, LE_HAVRE = "76681", "76351"


def _both_own_partitions(
    port1: int, port2: int, timeout: float = 90.0
) -> tuple[set[int], set[int]]:
    deadline = time.monotonic() + timeout
    while True:
        p1, p2 = owned_partitions(port1, timeout), owned_partitions(port2, timeout)
        if p1 and p2 and not p1 & p2:
            return p1, p2
        if time.monotonic() > deadline:
            raise AssertionError(f"partitions not split: {p1} / {p2}")
        time.sleep(0.5)


def test_two_workers_split_the_partitions_and_the_feeds_are_exact(  # type: ignore[no-untyped-def]
    settings, worker, actor_service, hub_env, tmp_path: Path
) -> None:
    port1 = int(worker.env["HUB_WORKER__WEB_PORT"])
    owned_partitions(port1)  # the shared worker is up and assigned
    second = WorkerProcess(hub_env, tmp_path / "worker2.log")
    second.start()
    try:
        port2 = int(second.env["HUB_WORKER__WEB_PORT"])
        p1, p2 = _both_own_partitions(port1, port2)
        assert len(p1 | p2) <= settings.kafka.partitions
        before1 = scrape(port1)

        sott, havre, dep = (f"so-{x}-{uuid.uuid4().hex[:6]}" for x in ("sott", "havre", "dep"))
        for aid, filters in (
            (sott, {"communes": [SOTTEVILLE]}),
            (havre, {"communes": [LE_HAVRE]}),
            (dep, {"departements": ["76"]}),
        ):
            actor_service.add_or_update(
                Actor(id=aid, name=aid, kind="bailleur", filters=ActorFilters(**filters))
            )
        events: list[dict[str, Any]] = []
        expected: dict[str, set[tuple[str, str]]] = {sott: set(), havre: set(), dep: set()}
        nums = [new_num_unique() for _ in range(40)]
        for i, num in enumerate(nums):
            first, then = (SOTTEVILLE, LE_HAVRE) if i % 2 else (LE_HAVRE, SOTTEVILLE)
            cre = demande_event(num, [first])
            events.append(cre)
            here, there = (sott, havre) if first == SOTTEVILLE else (havre, sott)
            expected[here].add((cre["eventId"], "DEMANDE"))
            expected[dep].add((cre["eventId"], "DEMANDE"))
            if i % 4 < 2:  # half the demands move to the other commune
                mod = demande_event(num, [then], operation="MOD")
                events.append(mod)
                expected[here].add((mod["eventId"], "RETRAIT"))
                expected[there].add((mod["eventId"], "DEMANDE"))
                expected[dep].add((mod["eventId"], "DEMANDE"))
        asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))

        mine = set(nums)
        for aid, want in expected.items():
            records = collect_feed(
                settings,
                aid,
                worker=worker,
                timeout=90,
                until=lambda rs, w=want: (
                    {(r["eventId"], r["kind"]) for r in rs if r["numUnique"] in mine} >= w
                ),
            )
            ours = [r for r in records if r["numUnique"] in mine]
            assert {(r["eventId"], r["kind"]) for r in ours} == want, aid
            seen: set[tuple[str, str]] = set()
            versions: dict[str, list[int]] = {}
            for r in ours:  # first occurrences, in feed order
                if (r["eventId"], r["kind"]) not in seen:
                    seen.add((r["eventId"], r["kind"]))
                    versions.setdefault(r["numUnique"], []).append(r["demandeVersion"])
            for num, vs in versions.items():
                assert vs == sorted(vs), (aid, num, vs)
        assert second.alive(), f"second worker died; see {second.log}"

        # both workers did part of the work
        after1, after2 = scrape(port1), scrape(port2)
        did1 = sum(
            sample(after1, "passerelle_feed_records_out_total", actor=a, kind=k)
            - sample(before1, "passerelle_feed_records_out_total", actor=a, kind=k)
            for a in expected
            for k in ("DEMANDE", "RETRAIT")
        )
        did2 = sum(
            sample(after2, "passerelle_feed_records_out_total", actor=a, kind=k)
            for a in expected
            for k in ("DEMANDE", "RETRAIT")
        )
        assert did1 > 0 and did2 > 0, (did1, did2)
        assert sample(after2, "passerelle_assigned_partitions", topic=topics.DEMANDES) >= 1
    finally:
        second.stop()
