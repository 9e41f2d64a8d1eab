"""W4: actor changes over a stored stock (issue 22 point 5).

One worker on the private broker; a trickle actor (Creuse) is registered through the
registry path first, so every partition's territorial index is complete before the stock
(dispatch/redispatch.py: the one-time full pass then runs over empty partitions). The
stock of N national demands is then published to ``hub.demandes`` and drained by the
worker (as W1 loads, but with no actor but the trickle's and the probe's). Then, each
scenario in turn, its actors added to those of the scenarios before:

* ``one_percent``: one actor over the département whose population share is nearest 1 %;
  afterwards the same demands are sent again as new events (``MOD``, same content, new
  event ids): the worker CPU per delivery of that run is what a copy is compared with;
* ``departement``: one actor over Paris (75, ~3 %: the issue's own measurement);
* ``bulk20``: one import of 20 actors over the 20 départements nearest 1 %;
* ``bulk20_shared``: one import of 20 actors over the 1 % département of ``one_percent``
  (twenty landlords of one territory: each demand read once for all twenty);
* ``national``: one actor over every département;
* ``bulk2000``: one import of 2,000 commune and EPCI offices (``bench.data`` draw).

Per scenario: actors imported through :class:`bench.registry.Registry` (controls sent
together), then, with a trickle of regular events running (:mod:`bench.trickle`), the
time from publishing the controls until the actors' feeds hold every record owed (the
stock's demands in scope by :func:`reliability.ledger.in_scope`, plus the trickle's
events in scope sent so far), worker CPU and peak RSS over that window, ``/health``
response times, the trickle's latency, and a ledger of every feed read back in full
(exact: nothing lost, duplicated, unexpected).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.broker import create_topics
from bench.data import ActorMix, demand_events, departement_shares, national_actors
from bench.harness import PARTITIONS, Watcher, producer, read_into_ledger
from bench.ledger import Ledger
from bench.measure import burst
from bench.phase import Phase, start_phase, stop_phase
from bench.procstat import CpuMeter, peak_rss_bytes, reset_peak_rss, rss_bytes
from bench.registry import Registry
from bench.stock import Demand, Scope, Stock, demand_of
from bench.trickle import Trickle
from bench.workloads import encode
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import Geography

TRICKLE_DEPARTEMENT = "23"
SCENARIOS = (
    "one_percent",
    "departement",
    "bulk20",
    "bulk20_shared",
    "national",
    "bulk2000",
)
NATIONAL_STOCK = 1_900_000
MiB = 2**20


@dataclass(frozen=True)
class W4Config:
    stock: int
    scenarios: tuple[str, ...] = SCENARIOS
    trickle_rate: float = 20.0
    bulk_departements: int = 20
    bulk_offices: int = 2000
    seed: int = 1
    chunk: int = 5000  # demands generated and sent per chunk while loading
    warm_s: float = 2.0  # the trickle runs alone this long before the change


@dataclass
class _Run:
    cfg: W4Config
    phase: Phase
    registry: Registry
    stock: Stock
    trickle: Trickle
    watcher: Watcher
    #: the events of the 1 % département, kept for the new-events comparison
    kept: list[dict[str, Any]] = field(default_factory=list)


def _actor(actor_id: str, filters: ActorFilters, kind: str = "etat") -> Actor:
    return Actor(id=actor_id, name=f"W4 {actor_id}", kind=kind,  # type: ignore[arg-type]
                 filters=filters)  # fmt: skip


def _nearest(shares: dict[str, float], n: int, target: float = 0.01) -> list[str]:
    deps = [d for d in shares if d != TRICKLE_DEPARTEMENT and not d.startswith("97")]
    return sorted(deps, key=lambda d: (abs(shares[d] - target), d))[:n]


def scenario_actors(cfg: W4Config, geo: Geography) -> dict[str, list[Actor]]:
    shares = departement_shares(geo)
    one = _nearest(shares, 1)[0]
    offices = national_actors(
        geo,
        cfg.seed,
        ActorMix(guichets=cfg.bulk_offices, landlords=0, guichet_commune=0.74, guichet_epci=0.26),
    )
    return {
        "one_percent": [_actor(f"w4-one-{one.lower()}", ActorFilters(departements=[one]))],
        "departement": [_actor("w4-dep-75", ActorFilters(departements=["75"]))],
        "bulk20": [
            _actor(f"w4-b20-{d.lower()}", ActorFilters(departements=[d]))
            for d in _nearest(shares, cfg.bulk_departements)
        ],
        "bulk20_shared": [
            _actor(f"w4-b20s-{i:02d}", ActorFilters(departements=[one]), kind="bailleur")
            for i in range(cfg.bulk_departements)
        ],
        "national": [_actor("w4-national", ActorFilters(departements=sorted(shares)))],
        "bulk2000": [a.model_copy(update={"id": f"w4-{a.id}", "version": 0}) for a in offices],
    }


async def committed_all(bootstrap: str, group: str, timeout: float) -> float:
    """Wait until ``group`` committed every record of ``hub.demandes``; the monotonic time."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    watcher = Watcher(bootstrap)
    await admin.start()
    await watcher.start()
    try:
        tps = [TopicPartition(topics.DEMANDES, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = await watcher.consumer.end_offsets(tps)
            done = await admin.list_consumer_group_offsets(group)
            if all(tp in done and done[tp].offset >= ends[tp] for tp in tps):
                return time.monotonic()
            await asyncio.sleep(0.5)
        raise TimeoutError(f"stock not drained in {timeout:g}s")
    finally:
        await watcher.stop()
        await admin.close()


async def load_stock(run: _Run, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Publish the stock in chunks as it is generated; wait until the worker drained it."""
    cfg, phase = run.cfg, run.phase
    assert phase.worker is not None
    pid = phase.worker.pid
    cpu = CpuMeter(pid)
    cpu.start()
    t0 = time.monotonic()
    prod = producer(phase.bootstrap)
    await prod.start()
    try:
        for i, start in enumerate(range(0, cfg.stock, cfg.chunk)):
            n = min(cfg.chunk, cfg.stock - start)
            events = list(demand_events(n, cfg.seed * 100_000 + i, phase.geo))
            for e in events:
                run.stock.add(e)
                if keep(e):
                    run.kept.append(e)
            futs = [await prod.send(topics.DEMANDES, v, key=k) for k, v in encode(events)]
            await asyncio.gather(*futs)
    finally:
        await prod.stop()
    sent = time.monotonic()
    done = await committed_all(phase.bootstrap, phase.app_id, 1800 + cfg.stock / 50)
    return {"demands": cfg.stock, "seconds": round(done - t0, 1),
            "publish_seconds": round(sent - t0, 1),
            "demands_per_s": round(cfg.stock / (done - t0), 1),
            "worker_cpu_s": _r(cpu.stop()), "worker_rss_mib": _mib(rss_bytes(pid)),
            "worker_peak_rss_mib": _mib(peak_rss_bytes(pid))}  # fmt: skip


class HealthProbe:
    """GET ``/health`` of the worker every ``period`` s; the slowest answer and failures."""

    def __init__(self, port: int | None, period: float = 0.5) -> None:
        self.port, self.period = port, period
        self.times: list[float] = []
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.port is not None:
            self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                t = time.monotonic()
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/health")
                    if r.status_code != 200:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1
                self.times.append((time.monotonic() - t) * 1000)
                await asyncio.sleep(self.period)

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return {"probes": len(self.times), "failures": self.failures,
                "max_ms": round(max(self.times), 1) if self.times else None}  # fmt: skip


async def scenario(run: _Run, name: str, actors: Sequence[Actor]) -> dict[str, Any]:
    phase, w = run.phase, run.watcher
    assert phase.worker is not None
    pid = phase.worker.pid
    await create_topics(phase.bootstrap, {topics.feed_topic(a.id): 1 for a in actors})
    tps = await w.partitions([topics.feed_topic(a.id) for a in actors])
    t = time.monotonic()
    stored = run.registry.stage(actors)
    registry_s = time.monotonic() - t
    scope = Scope(stored, phase.geo)
    stock_n = len(run.stock)
    owed = scope.owed(run.stock.demands)
    copies = sum(len(v) for v in owed.values())
    trickled = 0

    def on_send(d: Demand) -> None:
        nonlocal trickled
        for a in scope.of(d):
            owed[a].add(d.event_id)
            trickled += 1

    run.trickle.on_send = on_send
    await run.trickle.start()
    await asyncio.sleep(run.cfg.warm_s)  # the trickle's own steady state, before the change
    health = HealthProbe(phase.worker.web_port)
    cpu = CpuMeter(pid)
    rss0 = rss_bytes(pid)
    peak_reset = reset_peak_rss(pid)
    health.start()
    cpu.start()
    t0 = time.monotonic()
    controls = await run.registry.publish()
    timeout = 600 + copies / 100
    done = None
    while time.monotonic() - t0 < timeout:
        if await w.total(tps) >= copies + trickled:
            done = time.monotonic()
            break
        # listing 2,000 partitions' end offsets costs the harness (and the trickle it
        # drives) tens of ms: polled once a second for a large import
        await asyncio.sleep(0.05 if len(tps) <= 100 else 1.0)
    cpu_s = cpu.stop()
    peak = peak_rss_bytes(pid)
    trickle = await run.trickle.stop()
    run.trickle.on_send = lambda d: None
    probe = await health.stop()
    ledger = Ledger()
    for actor_id, ids in owed.items():
        for e in ids:
            ledger.expect(actor_id, e)
    await read_into_ledger(phase.bootstrap, {a.id: topics.feed_topic(a.id) for a in actors},
                           ledger)  # fmt: skip
    summary = ledger.summary()
    seconds = None if done is None else done - t0
    return {
        "scenario": name,
        "actors": len(actors),
        "controls": controls,
        "stock": stock_n,
        "copies_expected": copies,
        "trickle_deliveries": trickled,
        "registry_import_s": round(registry_s, 2),
        "seconds": _r(seconds),
        "completed": done is not None,
        "copies_per_s": None if not seconds else round(copies / seconds, 1),
        "worker_cpu_s": _r(cpu_s),
        "worker_cpu_us_per_copy": (
            None if cpu_s is None or not copies else round(cpu_s * 1e6 / copies, 1)
        ),
        "worker_rss_before_mib": _mib(rss0),
        "worker_peak_rss_mib": _mib(peak),
        "peak_is_scenario_peak": peak_reset,
        "trickle": trickle,
        "health": probe,
        "ledger": summary,
        "exact": summary["received"] == summary["expected"]
        and not (
            summary["lost"]
            or summary["duplicated"]
            or summary["unexpected"]
            or summary["out_of_order"]
        ),
    }


async def as_new_events(run: _Run, actor: Actor) -> dict[str, Any]:
    """The kept demands ``actor`` has, sent again as ``MOD`` events (same content, new ids):
    the worker CPU of dispatching them as regular events."""
    phase = run.phase
    assert phase.worker is not None and phase.watcher is not None
    scope = Scope([actor], phase.geo)
    # a numéro drawn twice by the generator: the worker keeps the first creation and
    # refuses the second (demande_existante), so do we
    first: dict[str, dict[str, Any]] = {}
    for e in run.kept:
        first.setdefault(e["numUnique"], e)
    events = [e for e in first.values() if scope.of(demand_of(e))]
    mods = [{**e, "eventId": str(uuid.uuid4()), "operation": "MOD",
             "occurredAt": int(time.time() * 1000)} for e in events]  # fmt: skip
    tps = await phase.watcher.partitions([topics.feed_topic(actor.id)])
    for m in mods:  # what a later copy of these demands carries
        run.stock.add(m)
    b = await burst(phase.watcher, phase.bootstrap, topics.DEMANDES, encode(mods), tps,
                    len(mods), {"worker": phase.worker.pid}, timeout=1800)  # fmt: skip
    cpu = b.cpu["worker"]
    return {"events": len(mods), "deliveries": len(mods), "seconds": round(b.seconds, 2),
            "worker_cpu_s": _r(cpu),
            "worker_cpu_us_per_delivery": (None if cpu is None or not mods
                                           else round(cpu * 1e6 / len(mods), 1))}  # fmt: skip


async def w4(bootstrap: str, home: Path, geo: Geography, cfg: W4Config,
             extra_env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    actors = scenario_actors(cfg, geo)
    one = actors["one_percent"][0].filters.departements[0]
    phase = await start_phase(bootstrap, home, geo, [], extra_env=extra_env)
    try:
        assert phase.watcher is not None
        registry = Registry(home / "registry", bootstrap)
        stock = Stock(geo)
        for e in phase.probe_events:  # in the worker's state too: a later actor is owed it
            stock.add(e)
        trickle_actor = _actor("w4-trickle", ActorFilters(departements=[TRICKLE_DEPARTEMENT]))
        trickle = Trickle(bootstrap, geo, TRICKLE_DEPARTEMENT, trickle_actor.id,
                          cfg.trickle_rate, cfg.seed, stock)  # fmt: skip
        run = _Run(cfg, phase, registry, stock, trickle, phase.watcher)
        await create_topics(bootstrap, {topics.feed_topic(trickle_actor.id): 1})
        registry.stage([trickle_actor])
        await registry.publish()  # before the stock: every partition's index completes
        one_keys = set(geo.communes_of_departement(one))
        result: dict[str, Any] = {
            "config": {
                **cfg.__dict__,
                "scenarios": list(cfg.scenarios),
                "one_percent_departement": one,
                "one_percent_population_share": round(departement_shares(geo)[one], 4),
                "worker_env": extra_env or {},
            },
            "load": await load_stock(run, lambda e: bool(one_keys & set(demand_of(e).wishes))),
            "scenarios": {},
        }
        for name in cfg.scenarios:
            row = await scenario(run, name, actors[name])
            if name == "one_percent":
                row["as_new_events"] = await as_new_events(run, actors[name][0])
                new = row["as_new_events"]["worker_cpu_us_per_delivery"]
                cop = row["worker_cpu_us_per_copy"]
                row["cpu_ratio_copy_to_new_event"] = (
                    None if not new or cop is None else round(cop / new, 2)
                )
            result["scenarios"][name] = row
        return result
    finally:
        await stop_phase(phase)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _mib(v: int | None) -> float | None:
    return None if v is None else round(v / MiB, 1)
