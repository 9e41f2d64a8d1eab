"""Issue 20 points 2-3 on a private broker: the score in feed records and its clock,
moved by ``hub clock tick`` across a stock of demands of the Métropole Rouen Normandie
whose score changes with time (18 months of seniority, turning 30), with a ``kill -9``
of the worker in the middle, a MOD between ticks, and a partner's declaration recorded
in the hub's database.

Oracle (computed here, from the demands' dates and docs/cotation.md's points, never by
dispatch code): per recipient and demand, the exact sequence after deduplication by
(eventId, kind) — DEMANDE with its total, renewal AVIS (docs/lifecycle.md), and an
``AVIS`` ``cotation`` with the new total on each day the total changes, to the actors
covering the Métropole only. 0 lost, 0 duplicated, in stream order.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import random
import signal
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.cli.clock import write_ticks
from hub.domain.actors import Actor, ActorFilters
from reliability.checker import read_feeds, wait_for_record
from reliability.cluster import PrivateHub, Worker
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
PARIS = ZoneInfo("Europe/Paris")
DARNETAL, LE_HAVRE, METROPOLE = "76212", "76351", "200023414"
RENEWAL = (("renouvellement_m-2", -2), ("renouvellement_m-1", -1), ("echeance_depassee", 0))


def _shift(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def _ms(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).timestamp() * 1000)


class Demand:
    """One demand's dates and what the Rouen grid gives it (docs/cotation.md): motive 11
    (divorce) 20, under 30 years 20, 18 months of seniority 20, ``REPRISE_ACTIVITE``
    40 when declared before the record's time."""

    def __init__(self, created: dt.date, born: dt.date, declared_ms: int | None = None) -> None:
        self.num = new_num_unique()
        self.created, self.born, self.declared_ms = created, born, declared_ms
        self.arrived = max(created, dt.date(2025, 6, 1))

    def total(self, day: dt.date, cutoff_ms: int) -> int:
        out = 20 + (20 if day < _shift(self.born, 360) else 0)
        out += 20 if _shift(self.created, 18) <= day else 0
        declared = self.declared_ms is not None and self.declared_ms <= cutoff_ms
        return out + (40 if declared else 0)

    def changes(self) -> set[dt.date]:
        return {_shift(self.born, 360), _shift(self.created, 18)}

    def renewals(self) -> list[tuple[dt.date, str]]:
        end = _shift(self.created, 12)  # valid through it: échéance the day after
        return [(_shift(end, m) if m else end + dt.timedelta(days=1), code)
                for code, m in RENEWAL]  # fmt: skip

    def event(self, op: str, day: dt.date) -> dict[str, Any]:
        ev = demande_event(self.num, [DARNETAL, LE_HAVRE], operation=op,
                           occurred_at=_ms(day, 9))  # fmt: skip
        dl = ev["demande"]["demandeLogement"]
        dl["dateCreationDemande"] = self.created.isoformat()
        dl["personnePhysique"]["demandeur"]["dateNaissance"] = self.born.isoformat()
        dl["principauxMotifDemande"] = {"motifDemande": ["11"]}
        dl["informationTraitement"] = {"estDelaiAnormalementLong": op == "MOD"}
        return ev


def _expected(steps: list[tuple[str, Any]], demands: list[Demand],
              scored: bool) -> dict[str, list[tuple[Any, ...]]]:  # fmt: skip
    """Per demand, the records an actor gets (``scored``: it covers the Métropole)."""
    out: dict[str, list[tuple[Any, ...]]] = {d.num: [] for d in demands}
    ref = {d.num: dt.date.min for d in demands}  # the day the last score was computed for
    sent: dict[str, set[str]] = {d.num: set() for d in demands}
    by_num = {d.num: d for d in demands}
    for kind, body in steps:
        if kind == "event":
            d, day = by_num[body["numUnique"]], body["day"]
            ref[d.num] = max(ref[d.num], day)
            out[d.num].append(("DEMANDE", body["op"], d.total(ref[d.num], _ms(day, 9)),
                               body["op"] == "MOD"))  # fmt: skip
            continue
        now = body
        for d in demands:
            due: list[tuple[dt.date, tuple[Any, ...]]] = []
            due += [(day, ("AVIS", code)) for day, code in d.renewals()
                    if day <= now and code not in sent[d.num]]  # fmt: skip
            day = ref[d.num]
            while day < now:
                day += dt.timedelta(days=1)
                t = d.total(day, _ms(day))
                if t != d.total(day - dt.timedelta(days=1), _ms(day)):
                    due.append((day, ("AVIS", "cotation", t)))
            for day, rec in sorted(due):
                if rec[1] == "cotation":
                    ref[d.num] = day
                    if not scored:
                        continue
                else:
                    sent[d.num].add(rec[1])
                out[d.num].append(rec)
            ref[d.num] = max([ref[d.num]] + [day for day, rec in due if rec[1] == "cotation"])
    return out


def _got(feed: list[dict[str, Any]], nums: set[str], scored: bool) -> tuple[dict[str, list[
        tuple[Any, ...]]], int]:  # fmt: skip
    seen: set[tuple[str, str]] = set()
    out: dict[str, list[tuple[Any, ...]]] = {}
    dups = 0
    for r in feed:
        if r["numUnique"] not in nums:
            continue
        if (r["eventId"], r["kind"]) in seen:
            dups += 1
            continue
        seen.add((r["eventId"], r["kind"]))
        totals = [c["total"] for c in r["cotations"] if c["epci"] == METROPOLE]
        if r["kind"] == "DEMANDE":
            rec: tuple[Any, ...] = ("DEMANDE", r["operation"], totals[0] if scored else None,
                                    r["delaiAnormalementLong"])  # fmt: skip
        elif r["reason"] == "cotation":
            rec = ("AVIS", "cotation", totals[0])
        else:
            rec = ("AVIS", r["reason"])
        out.setdefault(r["numUnique"], []).append(rec)
    return out, dups


@pytest.mark.timeout(600)
def test_scores_move_with_the_clock_exactly_once_across_kill9(private_hub: PrivateHub) -> None:
    from hub.core.db import make_engine
    from hub.stores.cotation.store import DeclarationStore, NewDeclaration

    hub = private_hub
    run = uuid.uuid4().hex[:6]
    names = {"metro": f"cot-{run}-metro", "dep": f"cot-{run}-dep", "havre": f"cot-{run}-havre"}
    hub.register([
        Actor(id=names["metro"], name="m", kind="epci", filters=ActorFilters(epcis=[METROPOLE])),
        Actor(id=names["dep"], name="d", kind="etat", filters=ActorFilters(departements=["76"])),
        Actor(id=names["havre"], name="h", kind="bailleur",
              filters=ActorFilters(communes=[LE_HAVRE]))])  # fmt: skip
    today = dt.date.today()
    last = today + dt.timedelta(days=70)
    ticks = [dt.date(2025, 9, 1), dt.date(2025, 10, 16), dt.date(2025, 10, 16),
             dt.date(2026, 3, 1), last]  # fmt: skip
    rng = random.Random(2020)
    demands = [Demand(dt.date(2024, 3, 31), dt.date(1995, 10, 15)),
               Demand(dt.date(2024, 8, 29), dt.date(1990, 1, 1)),
               Demand(dt.date(2025, 5, 1), dt.date(1996, 2, 29)),
               # 18 months after the declaration below, before the last tick
               Demand(_shift(today + dt.timedelta(days=40), -18), dt.date(1980, 5, 5),
                      declared_ms=int(time.time() * 1000))]  # fmt: skip
    while len(demands) < 30:
        d = Demand(dt.date(2023, 6, 1) + dt.timedelta(days=rng.randrange(700)),
                   dt.date(1985, 1, 1) + dt.timedelta(days=rng.randrange(5800)))  # fmt: skip
        # no two thresholds on one day (a same-day order the oracle would have to guess)
        if len(d.changes()) == 2 and not d.changes() & {day for day, _ in d.renewals()}:
            demands.append(d)
    mod = demands[0]
    steps: list[tuple[str, Any]] = [("event", {"numUnique": d.num, "op": "CRE", "day": d.arrived})
                                    for d in demands]  # fmt: skip
    steps += [("tick", ticks[0]), ("tick", ticks[1]), ("tick", ticks[2]),
              ("event", {"numUnique": mod.num, "op": "MOD", "day": dt.date(2026, 1, 10)}),
              ("tick", ticks[3]), ("tick", ticks[4])]  # fmt: skip
    expected = {short: _expected(steps, demands, short != "havre") for short in names}
    assert sum(1 for r in expected["metro"][demands[3].num] if r[1] == "cotation") >= 1
    # divorce 20 + 18 months 20 + the declaration 40 (aged 46: not under 30)
    assert ("AVIS", "cotation", 80) in expected["metro"][demands[3].num]

    # the declaration, as the API records it (hub.stores.cotation), before the worker runs
    store = DeclarationStore(make_engine(hub.settings.database_url))
    store.declare(NewDeclaration(num_unique=demands[3].num, epci=METROPOLE,
                                 critere="REPRISE_ACTIVITE", valeur=True, auteur=names["metro"],
                                 date_declaration=today))  # fmt: skip
    recorded = store.in_force(demands[3].num, METROPOLE)
    assert set(recorded) == {"REPRISE_ACTIVITE"}
    # the oracle counted it from the instant just before recording: make it exact
    from hub.stores.cotation.tables import cotation_declarations as table

    with store.engine.connect() as conn:
        at = conn.execute(table.select().where(table.c.num_unique == demands[3].num)).one()
    recorded_at = at.recorded_at if at.recorded_at.tzinfo else at.recorded_at.replace(
        tzinfo=dt.UTC)  # fmt: skip
    demands[3].declared_ms = int(recorded_at.timestamp() * 1000)
    expected = {short: _expected(steps, demands, short != "havre") for short in names}

    async def play(part: list[tuple[str, Any]]) -> None:
        events: list[dict[str, Any]] = []
        for kind, body in part:
            if kind == "event":
                d = next(x for x in demands if x.num == body["numUnique"])
                events.append(d.event(body["op"], body["day"]))
                continue
            if events:
                await hub.publish(events)
                events = []
            await write_ticks(hub.settings, _ms(body, 6))
        if events:
            await hub.publish(events)

    def worker(tag: str, **env: str) -> Worker:
        w = Worker({**hub.env, **env}, hub.home / f"worker-cot-{tag}-{run}.log")
        w.start()
        hub.workers.append(w)
        return w

    split = len(demands) + 2  # the CREs and two ticks, then the rest
    asyncio.run(play(steps[:split]))
    before_kill = sum(
        len(recs)
        for short in names
        for recs in _expected(steps[:split], demands, short != "havre").values()
    )
    # one input per batch: the first worker is still inside its backlog when killed
    first = worker("1", HUB_WORKER__BATCH_SIZE="1")
    second = None
    try:
        # the first of this test's own records: the new actors' feeds first fill with
        # copies of demands other tests left in their territory (a CI run killed there)
        nums_here = {d.num for d in demands}
        seen = asyncio.run(wait_for_record(hub.settings, list(names.values()),
                                           lambda r: r["numUnique"] in nums_here, 180,
                                           first.alive))  # fmt: skip
        assert first.alive(), f"worker died: {first.log}"
        assert seen, "no record of this test's demands within 180 s"
        first.signal(signal.SIGKILL)
        # this test's records, duplicates dropped: a feed's size also counts records sent
        # twice, and a CI run once saw 890 records for 315 expected at this point
        def done_before_kill() -> int:
            feeds = asyncio.run(read_feeds(hub.settings, list(names.values())))
            return sum(len(recs) for short, actor_id in names.items()
                       for recs in _got(feeds[actor_id], {d.num for d in demands},
                                        short != "havre")[0].values())  # fmt: skip

        done = done_before_kill()
        assert 0 < done < before_kill, ("the kill did not come mid-way", done, before_kill)
        second = worker("2")
        asyncio.run(play(steps[split:]))
        hub.wait_drained(300)
        assert second.alive(), second.log
    finally:
        for w in (first, second):
            if w is not None:
                w.signal(signal.SIGTERM)

    feeds = asyncio.run(read_feeds(hub.settings, list(names.values())))
    nums = {d.num for d in demands}
    for short, actor_id in names.items():
        got, dups = _got(feeds[actor_id], nums, short != "havre")
        want = {n: recs for n, recs in expected[short].items()}
        if short == "havre":  # its DEMANDE records are checked for kind, order and flag
            want = {n: [r if r[0] != "DEMANDE" else (*r[:2], None, r[3]) for r in recs]
                    for n, recs in want.items()}  # fmt: skip
        assert got == want, short
        print(
            f"{short}: {sum(map(len, want.values()))} records expected, {dups} duplicates "
            f"before dedup"
        )
    assert not [r for r in feeds[names["havre"]] if r["reason"] == "cotation"]
