"""One phase of a run: a hub worker over a set of registered actors on the private broker.

A phase registers its actors (feed topics + hub.actors), removes the previous phase's
(tombstones), starts a fresh ``hub worker`` whose consumer group starts at the current end
of hub.demandes (so it never re-dispatches an earlier phase's input), and waits until a
probe demand has gone through it: from then on, the worker is measured warm.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bench.broker import create_topics
from bench.harness import PARTITIONS, Watcher, produce, producer
from bench.processes import Proc, start_worker
from hub.core import topics
from hub.core.errors import TransientError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import Geography
from hub.domain.matching import TerritoryIndex
from schemas import get_codec

PROBE_DEPARTEMENT = "23"  # Creuse: few demands, so the probe actor stays small


@dataclass
class Phase:
    bootstrap: str
    home: Path
    geo: Geography
    actors: list[Actor]
    worker: Proc | None = None
    app_id: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    watcher: Watcher | None = None
    #: the probe demands sent through this phase's worker (actors of its territory get
    #: them too: a ledger over those actors must expect them)
    probe_events: list[dict[str, Any]] = field(default_factory=list)
    #: the tuning run's HUB_* settings of the worker (the baselines get them too)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def index(self) -> TerritoryIndex:
        """The reference matching (the harness's own copy) of this phase's actors."""
        return TerritoryIndex(self.geo, self.actors)

    def feeds(self, actors: Sequence[Actor] | None = None) -> dict[str, str]:
        return {a.id: topics.feed_topic(a.id) for a in (actors or self.actors)}


def probe_actor(tag: str) -> Actor:
    return Actor(
        id=f"probe-{tag}",
        name="probe",
        kind="etat",
        filters=ActorFilters(departements=[PROBE_DEPARTEMENT]),
        version=1,
    )


async def _ensure_core(bootstrap: str) -> None:
    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await cons.start()
    try:
        existing = await cons.topics()
    finally:
        await cons.stop()
    if topics.DEMANDES not in existing:
        await create_topics(
            bootstrap,
            {
                topics.DEMANDES: PARTITIONS,
                topics.EVENEMENTS: PARTITIONS,
                topics.DLQ: 1,
                topics.ACTORS: 1,
            },
        )


async def _set_group_to_end(bootstrap: str, group: str) -> None:
    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await cons.start()
    try:
        tps = [TopicPartition(topics.DEMANDES, p) for p in range(PARTITIONS)]
        cons.assign(tps)
        ends = await cons.end_offsets(tps)
        await cons.commit({tp: OffsetAndMetadata(off, "") for tp, off in ends.items()})
    finally:
        await cons.stop()


async def start_phase(
    bootstrap: str,
    home: Path,
    geo: Geography,
    actors: list[Actor],
    previous: Sequence[Actor] = (),
    extra_env: dict[str, str] | None = None,
) -> Phase:
    """Register ``actors`` (+ a probe), tombstone ``previous``, start a warm worker."""
    await _ensure_core(bootstrap)
    probe = probe_actor(uuid.uuid4().hex[:6])
    phase = Phase(
        bootstrap,
        home / f"phase-{uuid.uuid4().hex[:6]}",
        geo,
        [*actors, probe],
        extra_env=dict(extra_env or {}),
    )
    await create_topics(bootstrap, {topics.feed_topic(a.id): 1 for a in phase.actors})
    codec = get_codec()
    records = [
        (a.id.encode(), codec.encode("ActorRegistration", a.to_avro())) for a in phase.actors
    ]
    await produce(bootstrap, topics.ACTORS, records)
    if previous:
        prod = producer(bootstrap)
        await prod.start()
        try:
            futs = [await prod.send(topics.ACTORS, None, key=a.id.encode()) for a in previous]
            await asyncio.gather(*futs)
        finally:
            await prod.stop()
    await _set_group_to_end(bootstrap, phase.app_id)
    phase.worker = start_worker(
        bootstrap, phase.home, {"HUB_WORKER__APP_ID": phase.app_id, **(extra_env or {})}
    )
    phase.watcher = Watcher(bootstrap)
    try:
        await phase.watcher.start()
        await _probe(phase, probe)
    except BaseException:
        await stop_phase(phase)  # never leave a worker behind (it would load the machine)
        raise
    return phase


async def _probe(phase: Phase, probe: Actor, timeout: float = 300) -> None:
    from bench.data import demand_events

    assert phase.watcher is not None and phase.worker is not None
    tps = await phase.watcher.partitions([topics.feed_topic(probe.id)])
    before = await phase.watcher.total(tps)
    event = next(iter(demand_events(1, 99, phase.geo, [PROBE_DEPARTEMENT])))
    event["eventId"] = str(uuid.uuid4())
    phase.probe_events.append(event)
    await produce(
        phase.bootstrap,
        topics.DEMANDES,
        [(event["numUnique"].encode(), get_codec().encode("DemandeEvent", event))],
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await phase.watcher.total(tps) > before:
            return
        if not phase.worker.alive():
            break
        await asyncio.sleep(0.2)
    raise TransientError(f"hub worker not ready in {timeout:g}s; see {phase.worker.log}")


async def stop_phase(phase: Phase) -> None:
    if phase.watcher is not None:
        await phase.watcher.stop()
    if phase.worker is not None:
        phase.worker.stop()
