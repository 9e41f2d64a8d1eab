"""One fault run end to end: ledger, private hub, backfill, faults, drain, check, grep.

Each scenario has its own département (so its numéros uniques and actors never meet
another scenario's) and its own actors; scenarios of one session share a private broker,
and the worker group goes on from where the previous scenario left it.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.domain.geo import get_geography
from reliability import faults
from reliability.checker import check_feeds, dead_lettered
from reliability.cluster import PrivateHub
from reliability.ledger import generate
from reliability.pii import grep, needles


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    departement: str
    #: faults in order, each at a random point of the stream ...
    schedule: tuple[str, ...] = ()
    #: ... or a cycle of faults every ``period_s`` seconds until the backfill is out
    cycle: tuple[str, ...] = ()
    period_s: float = 30.0


SCENARIOS = {
    "kill9": Scenario("kill9", "kill -9 of the worker at 10 random points", "76",
                      schedule=("kill9",) * 10),
    "sigterm": Scenario("sigterm", "SIGTERM of the worker at 10 random points", "27",
                        schedule=("sigterm",) * 10),
    "broker": Scenario("broker", "broker stopped and started mid-stream", "14",
                       schedule=("broker",)),
    "rebalance": Scenario("rebalance", "a second worker joins and leaves every 30 s", "50",
                          cycle=("join", "leave"), period_s=30.0),
    # the default suite's run: every kind of fault once or twice in one small backfill
    # the default suite's: one kill -9 only (each costs the group's 60 s session timeout)
    # and no broker restart (~30 s), to stay within the suite's time budget; see docs
    "mixed": Scenario("mixed", "kill -9, worker join, SIGTERM, worker leave", "61",
                      schedule=("kill9", "join", "sigterm", "leave")),
}  # fmt: skip

#: events the worker must dead-letter (unknown commune): exercises the DLQ path and its logs
BAD_EVENTS = 3


@dataclass(slots=True)
class Result:
    scenario: str
    description: str
    events: int
    figures: dict[str, Any]
    faults: list[str]
    recoveries_s: list[float]
    drain_s: float
    unexpected_exits: int
    #: bad inputs found on hub.dlq, out of :data:`BAD_EVENTS`
    dead_lettered: int = 0
    pii_leaks: list[str] = field(default_factory=list)
    ok: bool = False


def _bad_events(ledger_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of real events (with their person data) wishing a commune that does not
    exist: the worker dead-letters them and must not log who they are about."""
    out = []
    for ev in ledger_events[:BAD_EVENTS]:
        bad = {**ev, "eventId": str(uuid.uuid4()), "operation": "MOD"}
        dl = dict(bad["demande"]["demandeLogement"])
        dl["logementRecherche"] = {**dl["logementRecherche"],
                                   "listeLocalisationSouhaite": [{"commune": "99999",
                                                                  "quartier": None}]}  # fmt: skip
        bad["demande"] = {**bad["demande"], "demandeLogement": dl}
        out.append(bad)
    return out


def run_scenario(hub: PrivateHub, sc: Scenario, *, events: int, seed: int,
                 timeout_s: float = 600) -> Result:  # fmt: skip
    """Run ``sc`` on the running private ``hub``; no worker may be running on entry."""
    geo = get_geography()
    prefix = f"{sc.name}-{uuid.uuid4().hex[:6]}"
    ledger = generate(geo, events=events, seed=seed, departement=sc.departement, actors=8,
                      prefix=prefix)  # fmt: skip
    hub.register(ledger.actors)
    stream = list(ledger.events)
    bads = _bad_events(ledger.events)
    for bad in bads:  # in the middle of the good ones
        stream.insert(len(stream) // 2, bad)
    asyncio.run(hub.publish(stream))
    run = faults.Run(hub, [a.id for a in ledger.actors], ledger.total_owed, timeout_s)
    t0 = time.monotonic()
    rng = random.Random(seed)
    if sc.schedule:
        faults.strike(run, list(sc.schedule), rng)
    if sc.cycle:
        faults.every(run, list(sc.cycle), sc.period_s,
                     until=lambda: run.total() >= ledger.total_owed)  # fmt: skip
    faults.leave(run)
    hub.wait_drained(timeout_s)
    drain = time.monotonic() - t0
    if run.main is not None:
        run.main.signal(signal.SIGTERM)  # the next scenario starts with no worker
    figures = check_feeds(hub.settings, ledger)
    dlq = asyncio.run(dead_lettered(hub.settings, {b["eventId"] for b in bads}))
    leaks = grep(hub.worker_logs(), needles(stream))
    return Result(
        scenario=sc.name, description=sc.description, events=len(ledger.events),
        figures=figures.as_dict(), faults=run.faults,
        recoveries_s=[round(r, 2) for r in run.recoveries], drain_s=round(drain, 1),
        unexpected_exits=run.unexpected_exits, dead_lettered=len(dlq),
        pii_leaks=[f"{leak.file}:{leak.line} {leak.kind}" for leak in leaks[:20]],
        ok=figures.ok and not leaks and len(dlq) == len(bads))  # fmt: skip
