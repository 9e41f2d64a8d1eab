"""W1 at full size: the national backlog dispatched by 1, then 2, ... workers (issue 22).

``python -m bench.national --demands 1900000 --workers 1,2 [--seed S] [--partitions P]``

On a private broker (never the shared one): the core topics (``hub.demandes`` with the
hub's default partition count unless ``--partitions``), the national actors
(:func:`bench.data.national_actors`: feed topics and registrations on ``hub.actors``)
before any demand, then N demands published by one producer. The demands come from ONE
seeded generator read in chunks (numéros uniques are unique within a generator call, so
no demand is an update of another; never more than one chunk in memory), and the
harness's own matching (:class:`hub.domain.matching.TerritoryIndex`, as
:func:`bench.workloads.expect`) counts the deliveries owed per actor on the way: counters
only, no event is kept.

Then, for each K of ``--workers``, the backlog is dispatched from offset 0 by K
``hub worker`` processes in a fresh consumer group (the worker's auto offset reset is
``earliest``), each with its own home, state directory and web port. A run ends when the
group's committed offsets reach the end of ``hub.demandes``; it reports wall time from
the workers' start (and from their first output, without the start-up), events/s,
each worker's CPU seconds, peak RSS (VmHWM), inputs dispatched and partitions held, the
broker's CPU, the load average, and the feed records written during the run against
those owed (overall and per actor). Delivery is at least once: the rebalance while the
workers start may hand some inputs out twice (``inputs_reread``); the demands' state
normally absorbs them, and a duplicate feed record would show as ``delivered > expected``.
After each run the workers' homes (state stores) and the group's own topics (state
changelog) are deleted: a full-size run writes ~1.1 KB of feed per delivery (~21 GiB per
run at 1.9 M); a run is skipped when the disk could not hold it.

Results: ``<out>/national-<N>-<timestamp>.{json,md}``; progress lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupCoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)
from prometheus_client.parser import text_string_to_metric_families

from bench import report
from bench.broker import create_topics, private_broker
from bench.data import ActorMix, demand_events, national_actors
from bench.harness import Watcher, producer, register_actors
from bench.processes import Proc, batch_inputs, start_worker, worker_env
from bench.procstat import CpuMeter, cpu_seconds, peak_rss_bytes, rss_bytes
from bench.workloads import encode
from hub.core import topics
from hub.core.settings import KafkaSettings
from hub.domain.geo import Geography, get_geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import wished_communes, wished_typologies

MiB = 2**20


@dataclass(frozen=True)
class Config:
    demands: int
    workers: tuple[int, ...] = (1, 2)
    seed: int = 1
    partitions: int = KafkaSettings().partitions  # the hub's default
    mix: ActorMix = field(default_factory=ActorMix)
    chunk: int = 20_000  # demands generated, matched and sent at a time
    progress_s: float = 10.0
    #: each dispatch run's limit, in the order of ``workers`` (the last one for the runs
    #: after it; empty: 600 s + 1 s per 50 demands): past it the run's row is partial
    timeouts: tuple[float, ...] = ()
    #: settings of the measured workers (``--worker-env HUB_X=V``: tuning runs)
    worker_env: tuple[tuple[str, str], ...] = ()

    def timeout_s(self, run: int) -> float:
        if not self.timeouts:
            return 600 + self.demands / 50
        return self.timeouts[min(run, len(self.timeouts) - 1)]


@dataclass
class Expected:
    """Deliveries owed by the harness's matching: counters only."""

    total: int = 0
    zero: int = 0  # demands matching no actor
    per_actor: Counter[str] = field(default_factory=Counter)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def publish(bootstrap: str, geo: Geography, index: TerritoryIndex,
                  cfg: Config) -> tuple[Expected, dict[str, Any]]:  # fmt: skip
    """Send ``cfg.demands`` demands to ``hub.demandes`` (key numUnique), counting the
    deliveries owed; return them with the timings (generation + matching + encoding apart
    from the whole)."""
    exp, gen_s, sent = Expected(), 0.0, 0
    events = demand_events(cfg.demands, cfg.seed, geo)  # one call: numéros all distinct
    prod = producer(bootstrap)
    await prod.start()
    t0 = time.monotonic()
    try:
        while sent < cfg.demands:
            t = time.monotonic()
            chunk = list(islice(events, cfg.chunk))
            for e in chunk:
                d = e["demande"]
                hits = index.match(wished_communes(d), wished_typologies(d))
                exp.total += len(hits)
                exp.zero += not hits
                exp.per_actor.update(hits)
            records = encode(chunk)
            del chunk
            gen_s += time.monotonic() - t
            futs = [await prod.send(topics.DEMANDES, v, key=k) for k, v in records]
            await asyncio.gather(*futs)
            sent += len(records)
            el = time.monotonic() - t0
            _log(f"publish {sent:,}/{cfg.demands:,} in {el:.0f}s ({sent / el:,.0f}/s), "
                 f"{exp.total:,} deliveries owed")  # fmt: skip
    finally:
        await prod.stop()
    seconds = time.monotonic() - t0
    return exp, {"seconds": round(seconds, 1), "generate_match_encode_s": round(gen_s, 1),
                 "demands_per_s": round(cfg.demands / seconds, 1),
                 "deliveries_expected": exp.total, "zero_recipient_demands": exp.zero,
                 "mean_recipients": round(exp.total / max(cfg.demands, 1), 2)}  # fmt: skip


async def _committed(admin: AIOKafkaAdminClient, group: str, tps: list[TopicPartition]) -> int:
    """Offsets ``group`` committed on ``tps``, summed; 0 while the broker has no
    coordinator for it yet (the first group of a fresh broker creates __consumer_offsets)."""
    try:
        done = await admin.list_consumer_group_offsets(group)
    except (GroupCoordinatorNotAvailableError, NotCoordinatorError,
            CoordinatorLoadInProgressError):  # fmt: skip
        return 0
    return sum(max(done[tp].offset, 0) for tp in tps if tp in done)


async def _written(watcher: Watcher, feeds: dict[str, TopicPartition],
                   before: dict[TopicPartition, int]) -> int:  # fmt: skip
    """Feed records written since ``before`` (end offsets of every feed)."""
    return await watcher.total(list(feeds.values())) - sum(before.values())


def owned_partitions(proc: Proc) -> list[int] | None:
    """Partitions of hub.demandes the worker holds (its ``passerelle_consumer_lag``
    series), None when its /metrics does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{proc.web_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return sorted({int(s.labels["partition"]) for fam in text_string_to_metric_families(text)
                   for s in fam.samples if s.name == "passerelle_consumer_lag"
                   and s.labels.get("topic") == topics.DEMANDES})  # fmt: skip


def _sample_partitions(held: list[list[list[int]]], procs: list[Proc]) -> None:
    """Append each worker's assignment to its list when it changed."""
    for seen, p in zip(held, procs, strict=True):
        owned = owned_partitions(p)
        if owned and (not seen or seen[-1] != owned):
            seen.append(owned)


async def dispatch_run(bootstrap: str, home: Path, k: int, cfg: Config, exp: Expected,
                       feeds: dict[str, TopicPartition], broker_pid: int | None,
                       data_dir: Path, logs: Path, limit: float) -> dict[str, Any]:  # fmt: skip
    """K workers in a fresh group dispatch the whole backlog; the run's row (see module).

    ``events_per_s_second_half``: from the group's first commit past half the backlog to
    the end, free of the start-up and of the first minutes' warm-up (broker JIT, caches).
    The workers' logs are copied to ``logs`` (their homes, with the state, are not kept)."""
    app_id = f"national-{k}w-{uuid.uuid4().hex[:6]}"
    env = {
        **dict(cfg.worker_env),
        "HUB_WORKER__APP_ID": app_id,
        "HUB_KAFKA__PARTITIONS": str(cfg.partitions),
    }
    disk0 = _du(data_dir)
    watcher, admin = Watcher(bootstrap), AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await watcher.start()
    await admin.start()
    procs: list[Proc] = []
    try:
        tps = await watcher.partitions([topics.DEMANDES])
        await watcher.partitions([tp.topic for tp in feeds.values()])  # metadata first
        end = sum((await watcher.consumer.end_offsets(tps)).values())
        before = await watcher.consumer.end_offsets(list(feeds.values()))
        load0, broker = os.getloadavg(), CpuMeter(broker_pid)
        broker.start()
        t0 = time.monotonic()
        procs = [start_worker(bootstrap, home / f"run{k}-w{i}", env) for i in range(k)]
        first = half = None
        half_committed = 0
        timed_out: int | None = None  # inputs committed when the time limit stopped it
        held: list[list[list[int]]] = [[] for _ in procs]  # distinct assignments seen
        progress: list[tuple[float, int, int]] = []  # (s since start, committed, delivered)
        next_progress, next_held = t0 + cfg.progress_s, t0
        while True:
            committed = await _committed(admin, app_id, tps)
            now = time.monotonic()
            if first is None and (committed or await _written(watcher, feeds, before)):
                first = now  # the first output: the start-up is over
            if half is None and committed >= end / 2:
                half, half_committed = now, committed
            if committed >= end:
                break
            if now - t0 > limit:  # a partial row: the rate over what was done
                timed_out = committed
                _log(f"{k} worker(s): {committed:,} of {end:,} committed in {limit:g}s:"
                     " stopped, the row is partial")  # fmt: skip
                break
            if dead := [p for p in procs if not p.alive()]:
                tail = dead[0].log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {dead[0].pid} exited; its log ends:\n{tail}")
            if now >= next_held:  # every 2 s in the first 30 s (the start-up rebalances)
                _sample_partitions(held, procs)
                next_held = now + (2 if now - t0 < 30 else cfg.progress_s)
            if now >= next_progress:
                next_progress += cfg.progress_s
                delivered = await _written(watcher, feeds, before)
                progress.append((round(now - t0, 1), committed, delivered))
                rss = [round((rss_bytes(p.pid) or 0) / MiB) for p in procs]
                _log(f"{k} worker(s): committed {committed:,}/{end:,} at "
                     f"{committed / (now - t0):,.0f}/s, feeds {delivered:,}/{exp.total:,}, "
                     f"RSS MiB {rss}, partitions {[s[-1] if s else [] for s in held]}")  # fmt: skip
            await asyncio.sleep(0.5)
        t_end = time.monotonic()
        broker_cpu = broker.stop()
        load1 = os.getloadavg()
        deadline = t_end + 60  # committed means acknowledged: this wait should be nil
        while timed_out is None and await _written(watcher, feeds, before) < exp.total:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        after = await watcher.consumer.end_offsets(list(feeds.values()))
        disk1 = _du(data_dir)  # with the run's state changelog: what the next run needs
        _sample_partitions(held, procs)
        # a short run may end before a worker's first offsets reading (its lag series name
        # its partitions): wait for it a little (seen once in a loaded CI rehearsal)
        settle = time.monotonic() + 15
        while any(not seen for seen in held) and time.monotonic() < settle:
            await asyncio.sleep(0.5)
            _sample_partitions(held, procs)
        rows: list[dict[str, Any]] = []
        for seen, p in zip(held, procs, strict=True):
            inputs = batch_inputs(p)
            rows.append({"pid": p.pid, "cpu_s": _r(cpu_seconds(p.pid)),
                         "peak_rss_mib": _mib(peak_rss_bytes(p.pid)),
                         "rss_end_mib": _mib(rss_bytes(p.pid)),
                         "inputs": None if inputs is None else int(inputs[0]),
                         "partitions": seen[-1] if seen else None,
                         "assignments_seen": seen})  # fmt: skip
    finally:
        logs.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(procs):
            p.stop()
            shutil.copyfile(p.log, logs / f"{app_id}-w{i}.log")
            shutil.rmtree(p.log.parent, ignore_errors=True)  # the worker's home
        with contextlib.suppress(KafkaError):  # the state changelog: GiBs at full size
            own = [t for t in await watcher.consumer.topics() if t.startswith(app_id)]
            if own:
                await admin.delete_topics(own)
        await admin.close()
        await watcher.stop()
    delivered = sum(after.values()) - sum(before.values())
    off = {a: (after[tp] - before[tp], exp.per_actor[a]) for a, tp in feeds.items()
           if after[tp] - before[tp] != exp.per_actor[a]}  # fmt: skip
    wall = t_end - t0
    busy = None if first is None else t_end - first
    cpus: list[float] = [r["cpu_s"] for r in rows if r["cpu_s"] is not None]
    peaks: list[float] = [r["peak_rss_mib"] for r in rows if r["peak_rss_mib"] is not None]
    counts = [r["inputs"] for r in rows]
    done = end if timed_out is None else timed_out
    second = None if half is None or t_end - half < 1 else (done - half_committed) / (t_end - half)
    row = {
        "workers": k, "app_id": app_id, "completed": timed_out is None, "demands": end,
        "committed_at_stop": done,
        "wall_s": round(wall, 1), "events_per_s": round(done / wall, 1),
        "from_first_output_s": _r(busy),
        "events_per_s_from_first_output": None if not busy else round(done / busy, 1),
        "events_per_s_second_half": _r(second),
        "deliveries_expected": exp.total, "delivered": delivered,
        "delivered_over_expected": round(delivered / max(exp.total, 1), 6),
        "actors_off": len(off), "actors_off_sample": dict(list(off.items())[:10]),
        # inputs read twice (a start-up rebalance); the state absorbs them
        "inputs_reread": None if None in counts or timed_out is not None else sum(counts) - end,
        "worker_cpu_s_sum": _r(sum(cpus)), "worker_cpu_s_max": _r(max(cpus, default=None)),
        "worker_peak_rss_mib_max": max(peaks, default=None),
        "worker_peak_rss_mib_sum": _r(sum(peaks)),
        "broker_cpu_s": _r(broker_cpu), "loadavg_start": load0, "loadavg_end": load1,
        "broker_disk_gib_added": round((disk1 - disk0) / 2**30, 2),
        "progress": progress, "per_worker": rows,
    }  # fmt: skip
    _log(f"{k} worker(s) done: {wall:.1f}s, {done / wall:,.0f} events/s, delivered "
         f"{delivered:,}/{exp.total:,}, peak RSS MiB {peaks}, CPU s {cpus}")  # fmt: skip
    return row


async def national(cfg: Config, home: Path, logs: Path) -> dict[str, Any]:
    """The whole run (module doc): one broker, one backlog, one dispatch run per K; the
    workers' logs in ``logs``."""
    geo = get_geography()
    actors = national_actors(geo, cfg.seed, cfg.mix)
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {**asdict(cfg), "actors": len(actors)},
        "git": report.versions().get("git"), "machine": report.machine(),
        "versions": report.versions(), "loadavg_at_start": os.getloadavg(),
    }  # fmt: skip
    with private_broker(home) as broker:
        bootstrap, broker_pid = broker.bootstrap, broker.status().pid
        result["broker"] = {"bootstrap": bootstrap, "kafka": broker.version}
        feeds = {a.id: TopicPartition(topics.feed_topic(a.id), 0) for a in actors}
        await create_topics(bootstrap, {topics.DEMANDES: cfg.partitions,
                                        topics.EVENEMENTS: cfg.partitions,
                                        topics.DLQ: 1, topics.ACTORS: 1,
                                        **{tp.topic: 1 for tp in feeds.values()}})  # fmt: skip
        await register_actors(bootstrap, actors)  # before any demand
        _log(f"{len(actors):,} actors registered; publishing {cfg.demands:,} demands")
        exp, result["publish"] = await publish(bootstrap, geo, TerritoryIndex(geo, actors), cfg)
        result["runs"], result["skipped"] = [], []
        for i, k in enumerate(cfg.workers):
            free = shutil.disk_usage(broker.data_dir).free
            if result["runs"] and free < 1.2 * result["runs"][-1]["broker_disk_gib_added"] * 2**30:
                result["skipped"] = list(cfg.workers[i:])  # each run writes every feed again
                _log(f"runs {result['skipped']} skipped: {free / 2**30:.1f} GiB free")
                break
            try:
                row = await dispatch_run(bootstrap, home, k, cfg, exp, feeds, broker_pid,
                                         broker.data_dir, logs, cfg.timeout_s(i))  # fmt: skip
                result["runs"].append(row)
            except (TimeoutError, RuntimeError) as exc:  # the runs before are kept
                _log(f"{k} worker(s) failed: {exc}")
                result["runs"].append({"workers": k, "completed": False, "error": str(exc)})
                break
    by_k = {r["workers"]: r for r in result["runs"] if r["completed"]}  # the last of each K
    for key in ("events_per_s", "events_per_s_from_first_output", "events_per_s_second_half"):
        one, two = (by_k.get(k, {}).get(key) for k in (1, 2))
        result[f"scale_out_{key}"] = round(two / one, 3) if one and two else None
    result["loadavg_at_end"] = os.getloadavg()
    return result


def markdown(r: dict[str, Any]) -> str:
    """The runs as one table (figures as in the JSON; n/a where not measured)."""
    c, pub = r["config"], r["publish"]
    lines = [
        f"National backfill {r['started']} · {c['demands']:,} demands · {c['actors']:,} actors "
        f"· {c['partitions']} partitions · {r['machine']['cpus']} CPUs ({r['machine']['cpu']}) "
        f"· git {r['git']} · published in {pub['seconds']} s, {pub['mean_recipients']} "
        f"recipients/demand", "",
        "| workers | wall s | events/s | events/s from 1st output | events/s 2nd half "
        "| delivered / expected | inputs re-read | worker CPU s (sum) | peak RSS MiB (max) "
        "| broker CPU s | load start → end | partitions |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for x in r["runs"]:
        if "error" in x:
            lines.append(f"| {x['workers']} | failed: {x['error'][:200]!r} |")
            continue
        partial = "" if x["completed"] else f" (stopped at {x['committed_at_stop']:,})"
        cells = [f"{x['workers']}{partial}", x["wall_s"], x["events_per_s"],
                 x["events_per_s_from_first_output"], x["events_per_s_second_half"],
                 f"{x['delivered']:,} / {x['deliveries_expected']:,}", x["inputs_reread"],
                 x["worker_cpu_s_sum"], x["worker_peak_rss_mib_max"], x["broker_cpu_s"],
                 f"{x['loadavg_start'][0]:.1f} → {x['loadavg_end'][0]:.1f}",
                 " / ".join(str(w["partitions"]) for w in x["per_worker"])]  # fmt: skip
        lines.append("| " + " | ".join("n/a" if v is None else str(v) for v in cells) + " |")
    lines += ["", "Scale-out, events/s with 2 workers / with 1 (last run of each): "
              f"{r['scale_out_events_per_s']} overall, "
              f"{r['scale_out_events_per_s_from_first_output']} from the first output, "
              f"{r['scale_out_events_per_s_second_half']} over the second half"
              + (f"; runs skipped (disk): {r['skipped']}" if r["skipped"] else ""), ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.national", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--demands", type=int, required=True, metavar="N")
    p.add_argument(
        "--workers",
        default="1,2",
        metavar="K,K",
        help="one dispatch run per count of workers, in order (default 1,2)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--partitions",
        type=int,
        default=Config.partitions,
        help=f"partitions of hub.demandes (default the hub's, {Config.partitions})",
    )
    p.add_argument("--guichets", type=int, default=ActorMix().guichets)
    p.add_argument("--landlords", type=int, default=ActorMix().landlords)
    p.add_argument("--chunk", type=int, default=Config.chunk, help="demands per chunk")
    p.add_argument(
        "--timeout",
        default="",
        metavar="S,S",
        help="limit of each dispatch run, in the order of --workers, the last for the runs "
        "after it (default 600 s + 1 s per 50 demands); past it the run's row is partial",
    )
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="HUB_X=V",
        help="a setting of the measured workers (tuning runs); repeatable",
    )
    a = p.parse_args(argv)
    workers = tuple(int(x) for x in a.workers.split(","))
    if a.demands < 1 or not workers or min(workers) < 1 or max(workers) > a.partitions:
        p.error("--demands >= 1 and 1 <= each of --workers <= --partitions")
    cfg = Config(a.demands, workers, a.seed, a.partitions,
                 ActorMix(guichets=a.guichets, landlords=a.landlords), a.chunk,
                 timeouts=tuple(float(x) for x in a.timeout.split(",") if x),
                 worker_env=tuple(worker_env(a.worker_env).items()))  # fmt: skip
    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"national-{cfg.demands}-{time.strftime('%Y%m%dT%H%M%S')}"
    with tempfile.TemporaryDirectory(prefix="hub-national-") as tmp:
        result = asyncio.run(national(cfg, Path(tmp), Path(f"{stem}-logs")))
    js, md = Path(f"{stem}.json"), Path(f"{stem}.md")
    js.write_text(json.dumps(result, indent=2, default=str))
    md.write_text(markdown(result))
    print(md.read_text())
    print(f"written: {js} {md}")


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _du(path: Path) -> int:
    """Bytes allocated under ``path`` (not the apparent size: Kafka preallocates its
    index files sparse); files the broker deletes meanwhile count as 0."""
    total = 0
    for root, _, files in os.walk(path):  # a folder deleted meanwhile is skipped
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _mib(v: int | None) -> float | None:
    return None if v is None else round(v / MiB, 1)


if __name__ == "__main__":
    main()
