"""W1 backfill, W2 fan-out sweep (with baselines a, b, c), W3 open-loop stream.

Each function takes a started :class:`bench.phase.Phase` (or what it needs to start one)
and returns a JSON-ready dict. Baselines and hub rounds alternate (A/B/A/B...) and the
reported figure is the median over rounds.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from pathlib import Path
from typing import Any

from bench import baseline as bl
from bench.broker import create_topics
from bench.data import demand_events, fanout_actors
from bench.harness import consumer, producer, read_into_ledger
from bench.ledger import HeadReader, Ledger
from bench.measure import Burst, burst
from bench.phase import Phase
from bench.processes import start_baseline
from hub.core import topics
from hub.domain.state import wished_communes, wished_typologies
from schemas import get_codec

INPUT = "bench.in"
#: one département per fan-out set, so the sets never match each other's demands
FANOUT_DEPS = ("76", "69", "59", "33", "13", "31", "44", "67")


def encode(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    codec = get_codec()
    return [(e["numUnique"].encode(), codec.encode("DemandeEvent", e)) for e in events]


def expect(ledger: Ledger, phase: Phase, actor_ids: set[str], events: list[dict[str, Any]]) -> int:
    """Add the reference recipients of ``events`` among ``actor_ids``; return the count."""
    index, n = phase.index, 0
    for e in events:
        d = e["demande"]
        for a in index.match(wished_communes(d), wished_typologies(d)):
            if a in actor_ids:
                ledger.expect(a, e["eventId"])
                n += 1
    return n


def _median(bursts: list[Burst]) -> dict[str, Any]:
    rows = [b.as_dict() for b in bursts]
    out: dict[str, Any] = {"rounds": len(rows)}
    for key, value in rows[0].items():
        vals = [r[key] for r in rows if r[key] is not None]
        out[key] = statistics.median(vals) if vals and isinstance(value, (int, float)) else None
    return out


def fanout_sets(ns: list[int]) -> dict[int, tuple[str, list[Any]]]:
    return {
        n: (dep, fanout_actors(n, dep, f"n{n}x")) for n, dep in zip(ns, FANOUT_DEPS, strict=False)
    }


async def fanout_sweep(
    phase: Phase,
    sets: dict[int, tuple[str, list[Any]]],
    broker_pid: int | None,
    rounds: int,
    target: int,
    min_events: int,
    max_events: int,
    logs: Path,
    seed: int,
) -> dict[str, Any]:
    """W2 and the baselines: per N, ``rounds`` interleaved pairs (baseline c, hub)."""
    assert phase.watcher is not None and phase.worker is not None
    w = phase.watcher
    out_topics = {bl.baseline_topic("a"): 1, bl.baseline_topic("b"): 1}
    for _, actors in sets.values():
        out_topics.update({bl.baseline_topic("c", a.id): 1 for a in actors})
    await create_topics(phase.bootstrap, {INPUT: 4, **out_topics})
    result: dict[str, Any] = {"baseline_a": None, "baseline_b": None, "by_n": {}}
    # (a) and (b): N-independent, same input size as N=1
    plain = encode(list(demand_events(max_events, seed, phase.geo, ["76"])))
    for mode in ("a", "b"):
        proc = start_baseline(
            phase.bootstrap, logs / f"baseline-{mode}.log", mode, INPUT, env=phase.extra_env
        )
        try:
            outs = await w.partitions([bl.baseline_topic(mode)])
            bursts = [
                await burst(
                    w,
                    phase.bootstrap,
                    INPUT,
                    plain,
                    outs,
                    len(plain),
                    {"process": proc.pid, "broker": broker_pid},
                )
                for _ in range(rounds)
            ]
        finally:
            proc.stop()
        result[f"baseline_{mode}"] = _median(bursts)
    hub_pid = phase.worker.pid
    for n, (dep, actors) in sets.items():
        k = max(min_events, min(max_events, target // n))
        events = list(demand_events(k * rounds, seed + n, phase.geo, [dep]))
        ledger = Ledger()
        ids = {a.id for a in actors}
        per_round = [events[r * k : (r + 1) * k] for r in range(rounds)]
        want = [expect(ledger, phase, ids, evs) for evs in per_round]
        base_in = encode(per_round[0])
        hub_outs = await w.partitions([topics.feed_topic(a.id) for a in actors])
        c_outs = await w.partitions([bl.baseline_topic("c", a.id) for a in actors])
        proc = start_baseline(
            phase.bootstrap,
            logs / f"baseline-c{n}.log",
            "c",
            INPUT,
            n=n,
            departement=dep,
            prefix=f"n{n}x",
            env=phase.extra_env,
        )
        hub_b, base_b = [], []
        try:
            for r in range(rounds):
                base_b.append(
                    await burst(
                        w,
                        phase.bootstrap,
                        INPUT,
                        base_in,
                        c_outs,
                        want[0],
                        {"process": proc.pid, "broker": broker_pid},
                    )
                )
                hub_b.append(
                    await burst(
                        w,
                        phase.bootstrap,
                        topics.DEMANDES,
                        encode(per_round[r]),
                        hub_outs,
                        want[r],
                        {"process": hub_pid, "broker": broker_pid},
                    )
                )
        finally:
            proc.stop()
        await read_into_ledger(phase.bootstrap, phase.feeds(actors), ledger)
        hub, base = _median(hub_b), _median(base_b)
        result["by_n"][str(n)] = {
            "events_per_round": k,
            "baseline_c": base,
            "hub": hub,
            "ratio_deliveries_per_s": round(hub["deliveries_per_s"] / base["deliveries_per_s"], 3),
            "ledger": ledger.summary(),
        }
    return result


async def stream(
    phase: Phase,
    actors: list[Any],
    dep: str,
    rate: int,
    duration: float,
    seed: int,
    drain_s: float = 60,
) -> dict[str, Any]:
    """W3: open loop at ``rate`` events/s for ``duration`` s; end-to-end latency from the
    scheduled send time (the record's occurredAt) to the harness reading the feed."""
    events = list(demand_events(int(rate * duration), seed, phase.geo, [dep]))
    ledger = Ledger()
    want = expect(ledger, phase, {a.id for a in actors}, events)
    codec = get_codec()
    probe = time.perf_counter()
    encode(events[:50])
    cost = (time.perf_counter() - probe) / 50
    # occurredAt = scheduled send time: pre-encoded, so the generator never waits on work
    start_wall = time.time() + 1.0 + 2 * cost * len(events)
    for i, e in enumerate(events):
        e["occurredAt"] = int((start_wall + i / rate) * 1000)
    records = encode(events)
    reader = HeadReader(codec)
    latencies: list[float] = []
    to_send: list[float] = []
    to_read: list[float] = []
    sent_ms: dict[bytes, float] = {}  # key -> when the generator really sent it
    generator_late: list[float] = []
    cons = consumer(phase.bootstrap)
    await cons.start()
    feeds = await phase.watcher.partitions([topics.feed_topic(a.id) for a in actors])  # type: ignore[union-attr]
    cons.assign(feeds)
    await cons.seek_to_end(*feeds)
    for tp in feeds:
        await cons.position(tp)
    by_topic = {topics.feed_topic(a.id): a.id for a in actors}
    prod = producer(phase.bootstrap)
    await prod.start()
    late = 0

    async def generate() -> None:
        nonlocal late
        futs = []
        offset = time.monotonic() - time.time()
        for i, (key, value) in enumerate(records):
            due = start_wall + i / rate + offset
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.01:
                late += 1  # behind schedule: send at once, latency keeps the due time
            sent_ms[key] = time.time() * 1000
            futs.append(await prod.send(topics.DEMANDES, value, key=key))
        await asyncio.gather(*futs)

    # The generator shares this process with the reader and its ledger (100,000+ live
    # objects): a full collection there paused it tens of ms, sending late. No
    # collection during the window (the window's garbage is freed after it).
    gc.collect()
    gc.disable()
    gen = asyncio.create_task(generate())
    try:
        deadline = start_wall + duration + drain_s
        while ledger.received < want and time.time() < deadline:
            # small reads: the generator shares this event loop, and decoding 5,000 feed
            # heads at once held it ~50 ms, making sends late (latency keeps the due time)
            batch = await cons.getmany(timeout_ms=100, max_records=READ_BATCH)
            now_ms = time.time() * 1000
            for tp, msgs in batch.items():
                for m in msgs:
                    head = reader.read(m.value)
                    latencies.append(now_ms - head.occurred_at)
                    sent = sent_ms.get(m.key, head.occurred_at)
                    generator_late.append(sent - head.occurred_at)
                    to_send.append(m.timestamp - sent)
                    to_read.append(now_ms - m.timestamp)
                    ledger.receive(by_topic[tp.topic], head)
        await gen
    finally:
        gc.enable()
        await prod.stop()
        await cons.stop()
    latencies.sort()
    return {
        "rate": rate,
        "duration_s": duration,
        "events": len(events),
        "deliveries": want,
        "late_sends": late,
        "latency_ms": _quantiles(latencies),
        # due -> the generator's real send (harness lateness) -> the hub's send of the
        # feed record (its CreateTime) -> the harness read
        "latency_split_ms": {
            "generator_late": _quantiles(sorted(generator_late)),
            "generator_to_hub_send": _quantiles(sorted(to_send)),
            "hub_send_to_read": _quantiles(sorted(to_read)),
        },
        "ledger": ledger.summary(),
    }


#: feed records the W3 harness reads (and decodes) per getmany: see stream()
READ_BATCH = 250


def _quantiles(sorted_ms: list[float]) -> dict[str, float | None]:
    if not sorted_ms:
        return {"p50": None, "p99": None, "p999": None, "max": None}

    def q(p: float) -> float:
        return round(sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))], 1)

    return {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": round(sorted_ms[-1], 1)}


NATIONAL_STOCK = 1_900_000


W1_INPUT = "bench.w1.in"


async def backfill(
    phase: Phase,
    actors: list[Any],
    events: list[dict[str, Any]],
    broker_pid: int | None,
    national: tuple[int, int, int],
    logs: Path,
) -> dict[str, Any]:
    """W1: the sample in two back-to-back bursts (halves); throughput, CPU, RSS and its
    projection to the national stock, and the ledger of every actor.

    Baseline (c) over the same national actors (``national``: seed, guichets, landlords),
    one topic per actor as the hub's feeds, runs each half just before the hub (A/B/A/B):
    the raw client's own projection tells how much of the target this machine allows.

    The projection uses the *marginal* RSS growth of the second half (RSS after it minus
    RSS after the first, per demand): the first half also pays one-off costs (producer
    buffers for every feed partition, caches filling up) that a linear projection of the
    total growth would multiply by 50."""
    from bench.processes import batch_inputs
    from bench.procstat import peak_rss_bytes, rss_bytes

    assert phase.watcher is not None and phase.worker is not None
    ledger = Ledger()
    outs = await phase.watcher.partitions([topics.feed_topic(a.id) for a in actors])
    pid = phase.worker.pid
    ids = {a.id for a in actors}
    half = len(events) // 2
    expect(ledger, phase, ids, phase.probe_events)  # already delivered, read back below
    await create_topics(
        phase.bootstrap, {W1_INPUT: 4, **{bl.baseline_topic("c", a.id): 1 for a in actors}}
    )
    base_outs = await phase.watcher.partitions([bl.baseline_topic("c", a.id) for a in actors])
    proc = start_baseline(
        phase.bootstrap,
        logs / "baseline-c-w1.log",
        "c",
        W1_INPUT,
        national=national,
        env=phase.extra_env,
    )
    rss = [rss_bytes(pid) or 0]
    bursts: list[Burst] = []
    base_bursts: list[Burst] = []
    batches0 = batch_inputs(phase.worker)
    try:
        for part in (events[:half], events[half:]):
            want = expect(ledger, phase, ids, part)
            records = encode(part)
            base_bursts.append(
                await burst(
                    phase.watcher,
                    phase.bootstrap,
                    W1_INPUT,
                    records,
                    base_outs,
                    want,
                    {"process": proc.pid, "broker": broker_pid},
                    timeout=7200,
                )
            )
            bursts.append(
                await burst(
                    phase.watcher,
                    phase.bootstrap,
                    topics.DEMANDES,
                    records,
                    outs,
                    want,
                    {"hub": pid, "broker": broker_pid},
                    timeout=7200,
                )
            )
            rss.append(rss_bytes(pid) or 0)
    finally:
        proc.stop()
    peak = peak_rss_bytes(pid)
    batches1 = batch_inputs(phase.worker)
    mean_batch = (
        None
        if batches0 is None or batches1 is None or batches1[1] <= batches0[1]
        else round((batches1[0] - batches0[0]) / (batches1[1] - batches0[1]), 1)
    )
    b, base = _total(bursts), _total(base_bursts)
    await read_into_ledger(phase.bootstrap, phase.feeds(actors), ledger)
    rss0, rss_mid, rss1 = rss
    per_demand = (rss1 - rss0) / max(len(events), 1)
    marginal = max(rss1 - rss_mid, 0) / max(len(events) - half, 1)
    eps = b.events / b.seconds
    return {
        **b.as_dict(),
        "baseline_c": {
            **base.as_dict(),
            "projected_full_minutes": round(NATIONAL_STOCK / (base.events / base.seconds) / 60, 1),
        },
        "ratio_deliveries_per_s": round(
            (b.deliveries / b.seconds) / (base.deliveries / base.seconds), 3
        ),
        "actors": len(actors),
        "mean_batch_inputs": mean_batch,
        "worker_rss_start_mib": round(rss0 / 2**20, 1),
        "worker_rss_mid_mib": round(rss_mid / 2**20, 1),
        "worker_rss_end_mib": round(rss1 / 2**20, 1),
        "worker_peak_rss_mib": None if peak is None else round(peak / 2**20, 1),
        "rss_growth_bytes_per_demand": round(per_demand),
        "rss_marginal_bytes_per_demand": round(marginal),
        "projected_full_minutes": round(NATIONAL_STOCK / eps / 60, 1),
        "projected_full_rss_mib": round(
            (max(rss1, peak or 0) + marginal * max(NATIONAL_STOCK - len(events), 0)) / 2**20
        ),
        "ledger": ledger.summary(),
    }


def _total(bursts: list[Burst]) -> Burst:
    """One burst summing ``bursts`` (events, deliveries, seconds, CPU per role)."""
    cpu = {
        role: (
            None
            if any(b.cpu.get(role) is None for b in bursts)
            else sum(b.cpu[role] or 0.0 for b in bursts)
        )
        for role in bursts[0].cpu
    }
    return Burst(
        sum(x.events for x in bursts),
        sum(x.deliveries for x in bursts),
        sum(x.seconds for x in bursts),
        cpu,
    )
