"""The push workload (issue 22 point 4): ``python -m bench run --only push``.

``hub deliver``'s service (:class:`connectors.outbound.service.PushService`, in this process, one
task per actor, SQLite outbox and audit chain in the run's temporary home) delivers to
:mod:`bench.push_receiver` (a separate process on 127.0.0.1). Outbox rows are FeedRecords
carrying generated demand snapshots (~2.3 kB of JSON each, so every record is audited),
written to the outbox before the clock starts: what is measured is the delivery, from
the outbox to the receiver's answers, audit rows and settling included.

The outbox and audit database is a SQLite file per run, or with ``--push-db URL`` a fresh
schema per run in that PostgreSQL database (dropped afterwards).

* **isolation**: ``actors`` webhook actors (one record per request), ``records`` each;
  rounds alternate a reference run (every receiver fast) and a run where the first
  actor's receiver answers in ``slow_delay_s`` per request. Per actor, rate = its
  records / (its last answer − start); the figure is, for each other actor, the median
  of its rates with the slow receiver over the median of its rates in the reference runs
  (the target: every such ratio ≥ 0.8), with min, 10th percentile and median over the
  actors, and per run the aggregate records/s.
* **backlog**: one actor with ``backlog`` records, ``batch: true`` (target ≥ 500
  records/s); the same records POSTed by a raw loop (httpx, same arrays and HMAC, no
  database) just before, as the ratio's baseline; and ``single_backlog`` records of an
  actor without the option (one request and no batching on the receiver's side) for
  comparison with the former 10–18 records/s.
* **backlog from the feed** (``python -m bench run --only push`` starts a private broker
  for it): the same ``backlog`` records written to the actor's Kafka feed first, then
  ``hub deliver``'s service with its :class:`~connectors.outbound.pump.FeedPump` (decode, copy
  into the outbox) and batch delivery, clock started with the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.broker import create_topics, free_port
from bench.data import demand_events
from bench.harness import producer
from connectors.outbound.pump import FeedPump
from connectors.outbound.service import PushService
from connectors.outbound.webhook import WebhookDelivery, actor_key, batch_body, sign
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.errors import TransientError
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.domain.geo import get_geography
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox, Pending
from schemas import get_codec

MASTER = "bench-push"
TARGET_RATIO = 0.8
TARGET_BACKLOG_RATE = 500.0


@dataclass(frozen=True)
class PushSuite:
    actors: int = 100
    records: int = 40
    slow_delay_s: float = 2.0
    rounds: int = 6
    backlog: int = 10_000
    single_backlog: int = 2_000


PUSH_SUITES = {"default": PushSuite(), "smoke": PushSuite(4, 5, 0.5, 1, 300, 20)}


def records(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` FeedRecords over 500 generated demands, versions growing per demand."""
    events = list(demand_events(min(n, 500), seed, get_geography()))
    return [
        {
            "kind": "DEMANDE",
            "eventId": f"bench-{i}",
            "numUnique": e["numUnique"],
            "operation": "MOD",
            "demandeVersion": i // len(events) + 1,
            "occurredAt": 0,
            "dispatchedAt": 0,
            "profile": "bailleur",
            "reason": None,
            "changedFields": [],
            "demande": e["demande"],
            "evenement": None,
        }
        for i, e in ((i, events[i % len(events)]) for i in range(n))
    ]


def bodies(n: int, seed: int) -> list[bytes]:
    """``n`` FeedRecord JSON bodies (:func:`records`), as the pump writes them."""
    return [json.dumps(r, sort_keys=True, default=str).encode() for r in records(n, seed)]


class Receiver:
    """The receiver subprocess."""

    def __init__(self, home: Path, slow: str | None, delay: float) -> None:
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "bench.push_receiver",
            "--port",
            str(self.port),
            "--delay",
            str(delay),
        ] + (["--slow", slow] if slow else [])
        self.log = (home / f"receiver-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise TransientError("bench receiver did not start")
        self.base = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, dict[str, Any]]:
        return dict(httpx.get(f"{self.base}/stats", timeout=10).json())

    def reset(self) -> None:
        httpx.post(f"{self.base}/reset", timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def _settings(bootstrap: str | None = None) -> HubSettings:
    base = HubSettings()
    update: dict[str, Any] = {
        "api": ApiSettings(webhook_secret=SecretStr(MASTER), webhook_timeout_s=30.0)
    }
    if bootstrap is not None:
        update["kafka"] = base.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    return base.model_copy(update=update)


def _actor(base: str, name: str, batch: bool) -> Actor:
    return Actor(
        id=name,
        name=name,
        kind="bailleur",
        filters=ActorFilters(communes=["76540"]),
        delivery=Delivery(
            channel="webhook",
            options={"url": f"{base}/hook/{name}", "batch": "true" if batch else "false"},
        ),
    )


async def _deliver(
    home: Path,
    receiver: Receiver,
    actors: list[Actor],
    rows: list[bytes],
    wait_for: list[str],
    db_url: str | None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Fill a fresh outbox with ``rows`` per actor, run the service until every actor of
    ``wait_for`` got them all; per-actor receiver stats relative to the start."""
    with fresh_engine(home, db_url) as engine:
        outbox = Outbox(engine)
        for a in actors:
            outbox.add(a.id, [(o, f"n{o}", b) for o, b in enumerate(rows)])
        receiver.reset()
        settings = _settings()
        service = PushService(
            settings,
            [WebhookDelivery(settings, outbox, AuditStore(engine))],
            None,
            interval=0.5,
            list_actors=lambda: actors,
        )
        stop = asyncio.Event()
        start, cpu0 = time.time(), time.process_time()
        task = asyncio.create_task(service.run(stop))
        while (
            any(service.delivered.get(a, 0) < len(rows) for a in wait_for)
            and time.time() - start < timeout
            and not task.done()
        ):
            await asyncio.sleep(0.05)
        elapsed, cpu = time.time() - start, time.process_time() - cpu0
        stop.set()
        await asyncio.wait_for(task, 60)
    stats = receiver.stats()
    per = {
        a.id: {
            "records": stats.get(a.id, {}).get("records", 0),
            "requests": stats.get(a.id, {}).get("requests", 0),
            "disorder": stats.get(a.id, {}).get("disorder", 0),
            "seconds": stats[a.id]["last"] - start if a.id in stats else None,
        }
        for a in actors
    }
    return {"seconds": elapsed, "deliverer_cpu_s": cpu, "per_actor": per}


@contextlib.contextmanager
def fresh_engine(home: Path, db_url: str | None) -> Iterator[Engine]:
    """A freshly migrated outbox + audit database: a SQLite file under ``home``, or with
    ``db_url`` (PostgreSQL) a new schema of that database, dropped afterwards."""
    if db_url is None:
        db = home / f"push-{time.monotonic_ns()}.db"
        engine = make_engine(f"sqlite:///{db}")
        migrate(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            db.unlink(missing_ok=True)
        return
    schema = f"bench_push_{uuid.uuid4().hex[:12]}"
    admin = make_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(db_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(scoped.render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _rate(row: dict[str, Any]) -> float | None:
    return row["records"] / row["seconds"] if row["seconds"] else None


async def isolation(
    home: Path, s: PushSuite, seed: int, db_url: str | None = None
) -> dict[str, Any]:
    rows = bodies(s.records, seed)
    names = [f"push-{i:03d}" for i in range(s.actors)]
    receiver = Receiver(home, names[0], s.slow_delay_s)
    try:
        actors = [_actor(receiver.base, n, batch=False) for n in names]
        ref_rates: dict[str, list[float]] = {n: [] for n in names[1:]}
        slow_rates: dict[str, list[float]] = {n: [] for n in names[1:]}
        runs: list[dict[str, Any]] = []
        await _deliver(home, receiver, actors[1:], rows[:5], names[1:], db_url)  # warm-up
        for i in range(s.rounds):
            # the reference: the first actor's records are not in its outbox at all; the
            # order alternates between rounds (whatever runs second meets a warmer machine)
            if i % 2 == 0:
                ref = await _deliver(home, receiver, actors[1:], rows, names[1:], db_url)
                slow = await _deliver(home, receiver, actors, rows, names[1:], db_url)
            else:
                slow = await _deliver(home, receiver, actors, rows, names[1:], db_url)
                ref = await _deliver(home, receiver, actors[1:], rows, names[1:], db_url)
            for n in names[1:]:
                a, b = _rate(ref["per_actor"][n]), _rate(slow["per_actor"][n])
                if a and b:
                    ref_rates[n].append(a)
                    slow_rates[n].append(b)
            runs.append(
                {
                    "reference": _summary(ref, names[1:]),
                    "with_slow": _summary(slow, names[1:]),
                    "slow_actor_records": slow["per_actor"][names[0]]["records"],
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                }
            )
    finally:
        receiver.stop()
    # per actor: the median of its rates with the slow receiver over the median of its
    # rates in the reference runs (medians over the alternating rounds: the machine's
    # load moves between runs more than the slow receiver could move anything)
    ratios = sorted(
        statistics.median(slow_rates[n]) / statistics.median(ref_rates[n])
        for n in names[1:]
        if ref_rates[n]
    )
    return {
        "runs": runs,
        "ratios": len(ratios),
        "ratio_min": ratios[0] if ratios else None,
        "ratio_p10": ratios[len(ratios) // 10] if ratios else None,
        "ratio_median": statistics.median(ratios) if ratios else None,
    }


def _summary(run: dict[str, Any], names: list[str]) -> dict[str, Any]:
    per = [run["per_actor"][n] for n in names]
    rates = sorted(r for r in (_rate(p) for p in per) if r)
    total = sum(p["records"] for p in per)
    return {
        "seconds": round(run["seconds"], 2),
        "records": total,
        "records_per_s": round(total / run["seconds"], 1),
        "actor_rate_min": round(rates[0], 2) if rates else None,
        "actor_rate_median": round(statistics.median(rates), 2) if rates else None,
        "deliverer_cpu_us_per_record": round(run["deliverer_cpu_s"] * 1e6 / total, 1)
        if total
        else None,
        "disorder": sum(p["disorder"] for p in per),
    }


async def raw_loop(base: str, name: str, rows: list[bytes], per_request: int) -> float:
    """Seconds a plain httpx loop takes to POST ``rows`` as signed arrays (no database)."""
    key = actor_key(MASTER, name)
    start = time.time()
    async with httpx.AsyncClient() as http:
        for i in range(0, len(rows), per_request):
            now = datetime.now(UTC)
            chunk = [
                Pending(0, name, o, "", b, 0, now)
                for o, b in enumerate(rows[i : i + per_request], start=i)
            ]
            body = batch_body(chunk)
            r = await http.post(
                f"{base}/hook/{name}",
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-passerelle-signature": sign(key, body),
                    "x-passerelle-offset": str(i),
                    "x-passerelle-count": str(len(chunk)),
                },
            )
            r.raise_for_status()
    return time.time() - start


async def backlog(home: Path, s: PushSuite, seed: int, db_url: str | None = None) -> dict[str, Any]:
    rows = bodies(s.backlog, seed + 1)
    receiver = Receiver(home, None, 0.0)
    try:
        raw_s = await raw_loop(
            receiver.base, "raw", rows, _settings().api.webhook_batch_max_records
        )
        batched = await _deliver(
            home, receiver, [_actor(receiver.base, "batched", True)], rows, ["batched"], db_url
        )
        single = await _deliver(
            home,
            receiver,
            [_actor(receiver.base, "single", False)],
            rows[: s.single_backlog],
            ["single"],
            db_url,
        )
    finally:
        receiver.stop()
    b, one = batched["per_actor"]["batched"], single["per_actor"]["single"]
    rate = _rate(b)
    raw_rate = len(rows) / raw_s
    return {
        "records": len(rows),
        "body_bytes_mean": sum(map(len, rows)) // len(rows),
        "batch": {
            **b,
            "records_per_s": rate,
            "deliverer_cpu_us_per_record": batched["deliverer_cpu_s"] * 1e6 / len(rows),
        },
        "raw_loop": {"seconds": raw_s, "records_per_s": raw_rate},
        "ratio_to_raw": rate / raw_rate if rate else None,
        "single": {
            **one,
            "records_per_s": _rate(one),
            "deliverer_cpu_us_per_record": single["deliverer_cpu_s"]
            * 1e6
            / max(1, s.single_backlog),
        },
    }


async def from_feed(
    home: Path, bootstrap: str, s: PushSuite, seed: int, db_url: str | None = None
) -> dict[str, Any]:
    """The backlog again, from the actor's Kafka feed: ``hub deliver``'s service with its
    feed pump (decode, copy into the outbox) and batch delivery, clock started with the
    service, the feed written before."""
    name = "from-feed"
    codec = get_codec()
    await create_topics(bootstrap, {topics.feed_topic(name): 1})
    prod = producer(bootstrap)
    await prod.start()
    try:
        for rec in records(s.backlog, seed + 1):
            await prod.send(
                topics.feed_topic(name),
                codec.encode("FeedRecord", rec),
                key=rec["numUnique"].encode(),
            )
        await prod.flush()
    finally:
        await prod.stop()
    receiver = Receiver(home, None, 0.0)
    try:
        with fresh_engine(home, db_url) as engine:
            settings = _settings(bootstrap)
            outbox = Outbox(engine)
            actor = _actor(receiver.base, name, True)
            service = PushService(
                settings,
                [WebhookDelivery(settings, outbox, AuditStore(engine))],
                FeedPump(settings, outbox),
                interval=0.5,
                list_actors=lambda: [actor],
            )
            stop = asyncio.Event()
            start, cpu0 = time.time(), time.process_time()
            task = asyncio.create_task(service.run(stop))
            while (
                service.delivered.get(name, 0) < s.backlog
                and time.time() - start < 600
                and not task.done()
            ):
                await asyncio.sleep(0.05)
            cpu = time.process_time() - cpu0
            stop.set()
            await asyncio.wait_for(task, 60)
        got = receiver.stats().get(name, {})
    finally:
        receiver.stop()
    seconds = got["last"] - start if got else None
    return {
        "records": got.get("records", 0),
        "requests": got.get("requests", 0),
        "disorder": got.get("disorder", 0),
        "seconds": seconds,
        "records_per_s": got.get("records", 0) / seconds if seconds else None,
        "deliverer_cpu_us_per_record": cpu * 1e6 / s.backlog,
    }


async def push(home: Path, suite: str, seed: int, db_url: str | None = None) -> dict[str, Any]:
    """The measurements without a broker (isolation, backlog from the outbox)."""
    s = PUSH_SUITES[suite]
    home.mkdir(parents=True, exist_ok=True)
    return {
        "config": {**asdict(s), "database": "postgresql" if db_url else "sqlite"},
        "isolation": await isolation(home, s, seed, db_url),
        "backlog": await backlog(home, s, seed, db_url),
    }


def verdicts(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def v(value: float | None, limit: float) -> dict[str, Any]:
        met = None if value is None else value >= limit
        return {"value": value, "target": f">= {limit:g}", "met": met, "projected": False}

    return {
        "push_other_actors_rate_ratio_min": v(p["isolation"]["ratio_min"], TARGET_RATIO),
        "push_backlog_records_per_s": v(
            p["backlog"]["batch"]["records_per_s"], TARGET_BACKLOG_RATE
        ),
    }


def markdown(p: dict[str, Any]) -> list[str]:
    iso, bl = p["isolation"], p["backlog"]
    c = p["config"]
    lines = [
        "",
        f"### Push channels ({c.get('database', 'sqlite')}): {c['actors']} webhook "
        f"actors × {c['records']} records, one receiver answering in "
        f"{c['slow_delay_s']} s",
        "",
        "| round | run | seconds | records/s (others) | actor rate min / median | "
        "deliverer CPU µs/record | out of order | slow actor's records | load 1 min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(iso["runs"], 1):
        for who in ("reference", "with_slow"):
            r = run[who]
            lines.append(
                f"| {i} | {who} | {r['seconds']} | {r['records_per_s']} | "
                f"{r['actor_rate_min']} / {r['actor_rate_median']} | "
                f"{r['deliverer_cpu_us_per_record']} | {r['disorder']} | "
                f"{run['slow_actor_records'] if who == 'with_slow' else ''} | "
                f"{run['loadavg_1m'] if who == 'with_slow' else ''} |"
            )
    lines += [
        "",
        f"Per other actor ({iso['ratios']}), median rate with the slow receiver / "
        f"median rate in the reference runs: min {iso['ratio_min']:.2f}, 10th percentile "
        f"{iso['ratio_p10']:.2f}, median {iso['ratio_median']:.2f}.",
        "",
        f"Backlog of {bl['records']:,} records (~{bl['body_bytes_mean']:,} B each): "
        f"batch mode {bl['batch']['records_per_s']:,.0f} records/s "
        f"({bl['batch']['requests']} requests, {bl['batch']['seconds']:.1f} s, "
        f"{bl['batch']['deliverer_cpu_us_per_record']:.0f} µs of deliverer CPU per "
        f"record); raw loop {bl['raw_loop']['records_per_s']:,.0f} records/s "
        f"(ratio {bl['ratio_to_raw']:.2f}); one record per request "
        f"{bl['single']['records_per_s']:,.0f} records/s over "
        f"{bl['single']['records']:,} records.",
    ]
    if f := bl.get("from_feed"):
        lines += [
            "",
            f"The same backlog from the actor's Kafka feed (private broker; feed pump "
            f"+ batch delivery): {_num(f['records_per_s'])} records/s ({f['records']:,} "
            f"records, {f['requests']} requests, {_num(f['seconds'], 1)} s, "
            f"{f['deliverer_cpu_us_per_record']:.0f} µs of deliverer CPU per record, "
            f"out of order {f['disorder']}).",
        ]
    return lines


def _num(v: float | None, digits: int = 0) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"
