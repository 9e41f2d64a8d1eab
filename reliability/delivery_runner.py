"""Delivery fault runs: PostgreSQL down, or the webhook receiver down, while events flow.

Path under test: ``hub.demandes`` → ``hub worker`` → ``hub.feed.<actor>`` → ``hub deliver``
(webhook outbox in PostgreSQL) → a local receiver (:mod:`reliability.receiver`); next to
it ``hub audit record`` audits the Kafka feeds into the same database. Every actor of the
ledger delivers by webhook. 60 % of the events are published before the run, the rest
as soon as the fault strikes (so the worker, the recorder and the deliverer's feed copy
all work during it). Once a random share (15-40 %) of the owed records has reached the
receiver, the fault strikes for ``down_s`` seconds, then is lifted:

* ``pg-down``: the private PostgreSQL is stopped (fast shutdown), then started again;
* ``webhook-down``: the receiver closes its socket (connections refused), then listens
  again; deliveries pile up in the outbox meanwhile.

The run ends when every input is committed, every feed record is in the outbox and none
is left undelivered (or at the timeout). Figures: the checker's (lost, duplicated raw and
after dedup by event id, reordered per demand, out of scope) on **what the receiver got**,
plus bad HMAC signatures, audit rows missing (Kafka feeds and webhook deliveries),
deliveries that arrived while the fault lasted, and exits of the deliverer / recorder
(must be 0: they ride the outage). **Recovery**: seconds from the fault's end (database
accepting connections again, receiver listening again) to the first POST received.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from dataclasses import dataclass
from typing import Any

from hub.domain.actors import Actor, Delivery
from hub.domain.geo import get_geography
from hub.services.feeds import feed_sizes
from reliability import faults
from reliability.checker import check, dead_lettered, read_feeds
from reliability.cluster import PrivateHub, free_port
from reliability.delivery_hub import DeliveryHub
from reliability.ledger import generate
from reliability.pii import grep, needles
from reliability.receiver import Receiver
from reliability.runner import Result, _bad_events

SECRET = "reliability-webhook-master"


@dataclass(frozen=True, slots=True)
class DeliveryScenario:
    name: str
    description: str
    departement: str
    #: "pg" or "receiver"
    target: str
    #: seconds down: default, and in the ``--full`` run
    down_s: float
    full_down_s: float
    #: events of the ``--full`` run: the deliverer POSTs one record at a time per actor
    #: (order), so 200,000 events would take hours
    full_events: int = 20_000
    small_events: int = 1_000


DELIVERY_SCENARIOS = {
    "pg-down": DeliveryScenario("pg-down", "PostgreSQL down while webhooks flow", "80", "pg",
                                down_s=60, full_down_s=60),
    "webhook-down": DeliveryScenario("webhook-down", "webhook receiver down for minutes",
                                     "62", "receiver", down_s=60, full_down_s=300),
}  # fmt: skip


def _webhook_actors(actors: list[Actor], receiver: Receiver) -> list[Actor]:
    return [a.model_copy(update={"delivery": Delivery(channel="webhook",
                                                      options={"url": receiver.url(a.id)})})
            for a in actors]  # fmt: skip


def _watch(run: faults.Run, dh: DeliveryHub, seconds: float) -> None:
    """Supervise the worker, deliverer and recorder for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        run.supervise()
        dh.supervise()
        time.sleep(0.2)


def _settle(hub: PrivateHub, run: faults.Run, dh: DeliveryHub, ids: list[str],
            timeout_s: float) -> bool:  # fmt: skip
    """Wait until inputs are committed and the outbox holds every feed record, delivered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run.supervise()
        dh.supervise()
        try:
            end, done = hub.progress()
            if end > 0 and done >= end:
                ends = asyncio.run(feed_sizes(hub.settings, ids))
                if dh.outbox_settled(ends):
                    return True
        except Exception:  # broker busy: try again
            pass
        time.sleep(1.0)
    return False


def run_delivery(hub: PrivateHub, sc: DeliveryScenario, *, events: int, seed: int,
                 down_s: float | None = None, timeout_s: float = 900) -> Result:  # fmt: skip
    """Run ``sc`` on the running private ``hub``; no worker may be running on entry."""
    down = sc.down_s if down_s is None else down_s
    prefix = f"{sc.name}-{uuid.uuid4().hex[:6]}"
    ledger = generate(get_geography(), events=events, seed=seed, departement=sc.departement,
                      actors=8, prefix=prefix)  # fmt: skip
    ids = [a.id for a in ledger.actors]
    receiver = Receiver(free_port(), SECRET)
    dh = DeliveryHub(hub, sc.name + "-" + prefix[-6:], prefix, SECRET)
    receiver.start()
    try:
        dh.up()
        dh.register(_webhook_actors(ledger.actors, receiver))
        stream = list(ledger.events)
        bads = _bad_events(ledger.events)
        for bad in bads:
            stream.insert(len(stream) // 2, bad)
        # 60 % before the run, the rest while the fault lasts: events flow during it
        split = int(len(stream) * 0.6)
        asyncio.run(hub.publish(stream[:split]))
        run = faults.Run(hub, ids, ledger.total_owed, timeout_s)
        t0 = time.monotonic()
        run.supervise()
        dh.start()
        point = int(random.Random(seed).uniform(0.15, 0.4) * ledger.total_owed)
        deadline = time.monotonic() + timeout_s
        while receiver.count() < max(1, point) and time.monotonic() < deadline:
            _watch(run, dh, 0.5)
        # -- the fault -------------------------------------------------------------
        (dh.pg_down if sc.target == "pg" else receiver.stop)()
        struck = time.monotonic()
        before = receiver.count()  # from here on, nothing may arrive (but a POST in flight)
        asyncio.run(hub.publish(stream[split:]))
        _watch(run, dh, down - (time.monotonic() - struck))
        during = receiver.count() - before
        (dh.pg_up if sc.target == "pg" else receiver.start)()
        back = time.monotonic()
        run.faults.append(f"{sc.name} {down:g}s")
        settled = _settle(hub, run, dh, ids, timeout_s)
        first = receiver.first_after(back)
        if first is not None:
            run.recoveries.append(first - back)
        drain = time.monotonic() - t0
        kafka_feeds = asyncio.run(read_feeds(hub.settings, ids))
        received = receiver.feeds(ids)
        audit_missing = dh.audit_missing(kafka_feeds, received)
        for _ in range(60):  # the recorder may still be catching up with the last feeds
            if audit_missing["kafka"] == 0:
                break
            _watch(run, dh, 1.0)
            audit_missing = dh.audit_missing(kafka_feeds, received)
        dh.stop()
        if run.main is not None:
            run.main.signal(signal.SIGTERM)  # the next scenario starts with no worker
        figures = _figures(ledger, received, kafka_feeds, receiver, audit_missing, dh,
                           during=during, down=down, settled=settled)  # fmt: skip
        dlq = asyncio.run(dead_lettered(hub.settings, {b["eventId"] for b in bads}))
        leaks = grep(hub.worker_logs() + dh.logs(), needles(stream))
    finally:
        receiver.stop()
        dh.down()
    ok = (figures["ok"] and not leaks and len(dlq) == len(bads))
    return Result(
        scenario=sc.name, description=f"{sc.description} ({down:g} s)",
        events=len(ledger.events), figures=figures, faults=run.faults,
        recoveries_s=[round(r, 2) for r in run.recoveries], drain_s=round(drain, 1),
        unexpected_exits=run.unexpected_exits + sum(dh.exits.values()),
        dead_lettered=len(dlq),
        pii_leaks=[f"{leak.file}:{leak.line} {leak.kind}" for leak in leaks[:20]], ok=ok)


def _figures(ledger: Any, received: dict[str, list[dict[str, Any]]],
             kafka_feeds: dict[str, list[dict[str, Any]]], receiver: Receiver,
             audit_missing: dict[str, int], dh: DeliveryHub, *, during: int, down: float,
             settled: bool) -> dict[str, Any]:  # fmt: skip
    """The checker's figures on what the receiver got, and the delivery-specific ones."""
    fig = check(ledger, received)
    on_feeds = check(ledger, kafka_feeds)
    bad_sig, bad_ids = receiver.signature_faults()
    out = fig.as_dict()
    out.update(feeds_lost=on_feeds.lost, feeds_ok=on_feeds.ok, feeds_examples=on_feeds.examples,
               bad_signatures=bad_sig,
               bad_event_id_headers=bad_ids, audit_missing_kafka=audit_missing["kafka"],
               audit_missing_webhook=audit_missing["webhook"], delivered_while_down=during,
               down_s=down, settled=settled, deliverer_exits=dh.exits["deliver"],
               recorder_exits=dh.exits["audit"], deliverer_retries=dh.retries("deliver"),
               recorder_retries=dh.retries("audit"),
               received_per_s=round(fig.delivered_raw / max(receiver.span(), 1e-3), 1))  # fmt: skip
    out["ok"] = (fig.ok and on_feeds.ok and settled and not bad_sig and not bad_ids
                 and not any(audit_missing.values()) and not any(dh.exits.values()))  # fmt: skip
    return out


def delivery_table(results: list[Result]) -> str:
    """The delivery runs' own figures (markdown), next to the common table."""
    head = ("| scenario | down s | owed | received (raw) | lost | dup raw | dup after dedup "
            "| reordered | out of scope | bad HMAC | unaudited | deliverer / recorder exits "
            "| recovery s | drain s | received/s |")
    lines = [head, "|" + "---|" * 15]
    for r in results:
        f = r.figures
        rec = f"{r.recoveries_s[0]:.1f}" if r.recoveries_s else "n/a"
        lines.append(
            f"| {r.scenario} | {f['down_s']:g} | {f['owed']} | {f['delivered_raw']} | "
            f"{f['lost']} | {f['duplicated_raw']} | {f['duplicated_after_dedup']} | "
            f"{f['reordered']} | {f['out_of_scope']} | {f['bad_signatures']} | "
            f"{f['audit_missing_kafka'] + f['audit_missing_webhook']} | "
            f"{f['deliverer_exits']} / {f['recorder_exits']} | {rec} | {r.drain_s} | "
            f"{f['received_per_s']} |")  # fmt: skip
    return "\n".join(lines)
