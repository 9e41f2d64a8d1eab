"""Issue 20 points 1-3: the demand's clock, in memory (dispatch/deadlines.py).

The expected notices are computed here from the demands' dates with this file's own
month arithmetic (the rule of docs/lifecycle.md), never by calling dispatch.deadlines.
The délai anormalement long, metrics, upgrade, stale entries, channels and stores:
tests/unit/test_clock_more.py.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import itertools
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka.partitioner import murmur2

from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore, run_pipelined

ROUEN, LE_HAVRE = "76540", "76351"
N = 4
PARIS = ZoneInfo("Europe/Paris")
_offsets = itertools.count()


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=PARIS).timestamp() * 1000)


def _shift(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` months, the day clamped to the month's length."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _thresholds(start: dt.date) -> list[tuple[dt.date, str]]:
    """The three renewal notices of a cycle starting at ``start`` (doc: -2, -1 months, and
    the day after the deadline: the demand is valid through its anniversary, audit N N3)."""
    end = _shift(start, 12)
    return [(_shift(end, -2), "renouvellement_m-2"), (_shift(end, -1), "renouvellement_m-1"),
            (end + dt.timedelta(days=1), "echeance_depassee")]  # fmt: skip


def _part(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % N


def _actor(aid: str, **f: Any) -> Actor:
    return Actor(id=aid, name=aid, kind="bailleur", version=1, filters=ActorFilters(**f))


def _event(num: str, commune: str, op: str = "CRE", created: str = "2025-11-02",
           renewed: str | None = None, dal: bool | None = None,
           occurred_at: int | None = None) -> dict[str, Any]:  # fmt: skip
    radiation = {"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"} if op == "RAD" \
        else None  # fmt: skip
    ev = demande_event(num, [commune], operation=op, radiation=radiation,
                       occurred_at=occurred_at)  # fmt: skip
    if op != "SUP":
        dl = ev["demande"]["demandeLogement"]
        dl["dateCreationDemande"] = created
        if renewed:
            dl["renouvellement"] = {"dateRenouvellement": renewed}
        if dal is not None:
            dl["informationTraitement"] = {"estDelaiAnormalementLong": dal}
    return ev


def _processor(codec: Any, geography: Any, store: MemoryStore, sender: MemorySender,
               **kw: Any) -> Processor:  # fmt: skip
    index = TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN]),
                                       _actor("havre", communes=[LE_HAVRE]),
                                       _actor("dep", departements=["76"])])  # fmt: skip
    return Processor(index, codec, store, sender, **kw)


def _ev_rec(codec: Any, ev: dict[str, Any]) -> InputRecord:
    key = ev["numUnique"].encode()
    return InputRecord(topics.DEMANDES, _part(key), next(_offsets), key,
                       codec.encode("DemandeEvent", ev))  # fmt: skip


def _ticks(codec: Any, proc: Processor, now: int) -> list[InputRecord]:
    return [InputRecord(topics.DEMANDES, p, next(_offsets), proc.partition_key(p),
                        codec.encode("DispatchTick", {"tickId": str(uuid.uuid4()),
                                                      "partition": p, "now": now}))
            for p in range(N)]  # fmt: skip


def _due_keys(store: MemoryStore) -> set[tuple[int, str, str]]:
    out = set()
    for (_, key) in store.own:
        if key.startswith(b"\x00d:"):
            due, code, num = key[3:].split(b"\x00")
            out.add((int(due), code.decode(), num.decode()))
    return out


def _avis(codec: Any, sender: MemorySender, actor: str) -> list[dict[str, Any]]:
    recs = [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor)]]
    return [r for r in recs if r["kind"] == "AVIS"]


def test_due_entries_are_written_and_removed_with_the_state(codec: Any, geography: Any) -> None:
    """CRE writes the entry of the cycle's first notice, REN moves it to the new cycle,
    RAD removes it, a MOD reactivating writes it again, SUP removes it (the later notices
    get theirs when the one before is sent: test_notice_records)."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    num = new_num_unique()

    def run(*events: dict[str, Any]) -> None:
        asyncio.run(proc.process([_ev_rec(codec, e) for e in events]))

    def expected(start: dt.date) -> set[tuple[int, str, str]]:
        day, code = _thresholds(start)[0]
        return {(_ms(day), code, num)}

    run(_event(num, ROUEN, created="2025-11-02"))
    assert _due_keys(store) == expected(dt.date(2025, 11, 2))
    assert ((_ms(dt.date(2026, 9, 2)), "renouvellement_m-2", num)) in _due_keys(store)
    run(_event(num, ROUEN, "REN", created="2025-11-02", renewed="2026-10-15"))
    assert _due_keys(store) == expected(dt.date(2026, 10, 15))
    run(_event(num, ROUEN, "RAD", created="2025-11-02", renewed="2026-10-15"))
    assert _due_keys(store) == set()
    run(_event(num, ROUEN, "MOD", created="2025-11-02", renewed="2026-10-15"))
    assert _due_keys(store) == expected(dt.date(2026, 10, 15))
    run(_event(num, ROUEN, "SUP"))
    assert _due_keys(store) == set()
    # 29 February: the anniversary is 28 February, notices on 28 Dec. and 28 Jan.
    leap = new_num_unique()
    run(_event(leap, ROUEN, created="2024-02-29"))
    assert {(d, c) for d, c, n in _due_keys(store) if n == leap} == {
        (_ms(dt.date(2024, 12, 28)), "renouvellement_m-2")}
    assert [(day, code) for day, code in _thresholds(dt.date(2024, 2, 29))] == [
        (dt.date(2024, 12, 28), "renouvellement_m-2"),
        (dt.date(2025, 1, 28), "renouvellement_m-1"),
        (dt.date(2025, 3, 1), "echeance_depassee")]


def _stock(rng: random.Random, size: int) -> list[tuple[str, str, dt.date]]:
    """(numéro, commune, creation date) with creation dates spread over 2025."""
    return [(new_num_unique(), rng.choice([ROUEN, LE_HAVRE]),
             dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365)))
            for _ in range(size)]  # fmt: skip


def _scenario(rng: random.Random, size: int) -> list[tuple[str, Any]]:
    """A stream: the stock created, ticks every ~9 days across 2025-11 .. 2026-12,
    renewals and radiations of some demands between them."""
    steps: list[tuple[str, Any]] = [("event", _event(n, c, created=d.isoformat()))
                                    for n, c, d in _stock(rng, size)]  # fmt: skip
    live = {ev["numUnique"]: ev for _, ev in steps}
    day = dt.date(2025, 11, 1)
    while day < dt.date(2026, 12, 31):
        steps.append(("tick", _ms(day) + rng.randrange(86_400_000)))
        for _ in range(rng.randrange(3)):
            num = rng.choice(sorted(live))
            prev = live[num]["demande"]["demandeLogement"]
            commune = prev["logementRecherche"]["listeLocalisationSouhaite"][0]["commune"]
            op = rng.choice(["REN", "REN", "RAD", "MOD"])
            ev = _event(num, commune, op, created=prev["dateCreationDemande"],
                        renewed=day.isoformat() if op == "REN" else
                        (prev.get("renouvellement") or {}).get("dateRenouvellement"))
            steps.append(("event", ev))
            if op == "RAD":
                del live[num]
            else:
                live[num] = ev
        day += dt.timedelta(days=rng.randrange(5, 14))
    return steps


def _expected(steps: list[tuple[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    """actor -> its (numéro, kind, reason or operation) records in order, from the dates:
    each active demand's cycle starts at its last renewal date or creation date; every
    threshold of the current cycle is told once, at the first tick at or after its day."""
    return _oracle(steps)[0]


def _untold(steps: list[tuple[str, Any]]) -> set[tuple[int, str, str]]:
    """(due ms, code, numéro) of the next threshold still ahead of each active demand at
    the end of ``steps``: what the due index must hold, no more, no less."""
    out = set()
    for num, d in _oracle(steps)[1].items():
        ahead = [(_ms(day), code, num) for day, code in _thresholds(d["start"])
                 if d["active"] and code not in d["told"]]  # fmt: skip
        out.update(ahead[:1])
    return out


def _oracle(steps: list[tuple[str, Any]]) -> tuple[dict[str, list[tuple[str, str, str]]],
                                                  dict[str, dict[str, Any]]]:  # fmt: skip
    where = {ROUEN: ["rouen", "dep"], LE_HAVRE: ["havre", "dep"]}
    demand: dict[str, dict[str, Any]] = {}
    out: dict[str, list[tuple[str, str, str]]] = {"rouen": [], "havre": [], "dep": []}
    for kind, body in steps:
        if kind == "event":
            dl = body["demande"]["demandeLogement"]
            num, op = body["numUnique"], body["operation"]
            start = dt.date.fromisoformat((dl.get("renouvellement") or {}).get(
                "dateRenouvellement") or dl["dateCreationDemande"])
            commune = dl["logementRecherche"]["listeLocalisationSouhaite"][0]["commune"]
            old = demand.get(num)
            told = old["told"] if old and old["start"] == start else set()
            demand[num] = {"start": start, "active": op != "RAD", "told": told,
                           "actors": where[commune]}  # fmt: skip
            for a in where[commune]:
                out[a].append((num, "RADIATION" if op == "RAD" else "DEMANDE", op))
            continue
        due: list[tuple[int, str, str]] = []
        for num, d in demand.items():
            if d["active"]:
                due += [(_ms(day), code, num) for day, code in _thresholds(d["start"])
                        if _ms(day) <= body and code not in d["told"]]  # fmt: skip
        for _, code, num in sorted(due):
            demand[num]["told"].add(code)
            for a in demand[num]["actors"]:
                out[a].append((num, "AVIS", code))
    return out, demand


def _records(codec: Any, proc: Processor, steps: list[tuple[str, Any]]) -> list[InputRecord]:
    out: list[InputRecord] = []
    for kind, body in steps:
        out += [_ev_rec(codec, body)] if kind == "event" else _ticks(codec, proc, body)
    return out


def _feed(codec: Any, sender: MemorySender, actor: str,
          dedup: bool = True) -> list[tuple[str, str, str]]:  # fmt: skip
    seen: set[tuple[str, str]] = set()
    out = []
    for _, v in sender.sent[topics.feed_topic(actor)]:
        r = codec.decode_as(v, "FeedRecord")
        if dedup and (r["eventId"], r["kind"]) in seen:
            continue
        seen.add((r["eventId"], r["kind"]))
        out.append((r["numUnique"], r["kind"],
                    r["reason"] if r["kind"] == "AVIS" else r["operation"]))
    return out


def _per_demand(records: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str, str]]]:
    by: dict[str, list[tuple[str, str, str]]] = {}
    for r in records:
        by.setdefault(r[0], []).append(r)
    return by


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stock_with_spread_deadlines_gets_exactly_its_notices(codec: Any, geography: Any,
                                                              seed: int) -> None:
    """Exactly the expected notices per recipient, each once, in order with the demand's
    other records, under random batching and pipelining; replaying the whole stream
    (ticks included) sends nothing more."""
    rng = random.Random(seed)
    steps = _scenario(rng, 60)
    expected = _expected(steps)
    assert sum(1 for recs in expected.values() for r in recs if r[1] == "AVIS") > 100
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    records = _records(codec, proc, steps)
    asyncio.run(run_pipelined(proc, list(records), rng, max_batch=15))
    for actor, want in expected.items():
        got = _feed(codec, sender, actor, dedup=False)
        assert _per_demand(got) == _per_demand(want), actor
    assert _due_keys(store) == _untold(steps)  # no stale entry, none missing
    # the whole stream read again
    asyncio.run(run_pipelined(proc, list(records), rng, max_batch=15))
    for actor, want in expected.items():
        assert _per_demand(_feed(codec, sender, actor, dedup=False)) == _per_demand(want)


def test_a_crash_replays_the_same_notice_ids(codec: Any, geography: Any) -> None:
    """Batches sent but not stored (a crash) are decided again by a new processor from
    the store: the notices come again with the same event ids, so after deduplication by
    (eventId, kind) every recipient has exactly the expected records."""
    rng = random.Random(7)
    steps = _scenario(rng, 40)
    expected = _expected(steps)
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    records = _records(codec, proc, steps)

    async def crashing() -> None:
        nonlocal proc
        queue = list(records)
        while queue:
            n = rng.randint(1, 25)
            batch = queue[:n]
            sub = await proc.submit(batch)
            if rng.random() < 0.3:  # sent, then killed before storing: a new worker
                proc = _processor(codec, geography, store, sender)
                continue  # the same inputs are read again
            await proc.settle(sub)
            queue = queue[n:]

    asyncio.run(crashing())
    assert _due_keys(store) == _untold(steps)
    duplicated = 0
    for actor, want in expected.items():
        assert _per_demand(_feed(codec, sender, actor)) == _per_demand(want), actor
        duplicated += len(_feed(codec, sender, actor, dedup=False)) - len(want)
    assert duplicated > 0  # the crashes did resend


def test_tick_reads_only_the_due_demands(codec: Any, geography: Any) -> None:
    """O(due): a stock of 1,500 demands, 9 of them due; a tick reads exactly the 9 states
    (after the partition's one-time upgrade pass), and at most ``due_chunk`` per
    partition per tick, the rest at the next ticks."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender, due_chunk=2)
    due = [new_num_unique() for _ in range(9)]
    far = [new_num_unique() for _ in range(1500)]
    events = [_event(n, ROUEN, created="2025-06-10") for n in due]
    events += [_event(n, LE_HAVRE, created="2026-03-01") for n in far]
    asyncio.run(proc.process([_ev_rec(codec, e) for e in events]))
    warm = asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2025, 1, 1)))))
    assert warm.clock_reads == len(due) + len(far)  # the upgrade pass, once
    assert not _avis(codec, sender, "rouen")
    now = _ms(dt.date(2026, 4, 11))  # the -2 months notice of the 9 (10 April), no other
    reads, told = [], []
    for _ in range(6):
        stats = asyncio.run(proc.process(_ticks(codec, proc, now)))
        reads.append(stats.clock_reads)
        told.append(stats.deliveries.get("AVIS", 0))
    assert sum(reads) == len(due)
    per_partition = [sum(_part(n.encode()) == p for n in due) for p in range(N)]
    assert reads[0] == sum(min(2, k) for k in per_partition)
    assert sum(told) == 2 * len(due)  # rouen and dep
    assert {r["numUnique"] for r in _avis(codec, sender, "rouen")} == set(due)
    assert not _avis(codec, sender, "havre")


def test_notice_records(codec: Any, geography: Any) -> None:
    """An AVIS carries the threshold in ``reason``, its due time in ``occurredAt``, the
    snapshot cut for the profile, and a deterministic event id; a radiated demand gets
    nothing more, a renewed one nothing of its old cycle."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    a, b, c = new_num_unique(), new_num_unique(), new_num_unique()
    asyncio.run(proc.process([_ev_rec(codec, _event(n, ROUEN, created="2025-03-20"))
                              for n in (a, b, c)]))  # fmt: skip
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 20)))))
    got = _avis(codec, sender, "rouen")
    assert sorted((r["numUnique"], r["reason"]) for r in got) == sorted(
        (n, "renouvellement_m-2") for n in (a, b, c))
    assert all(r["occurredAt"] == _ms(dt.date(2026, 1, 20)) and r["operation"] == "AVIS"
               and r["demande"] is not None for r in got)  # fmt: skip
    asyncio.run(proc.process([_ev_rec(codec, _event(a, ROUEN, "RAD", created="2025-03-20")),
                              _ev_rec(codec, _event(b, ROUEN, "REN", created="2025-03-20",
                                                    renewed="2026-02-01"))]))  # fmt: skip
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 6, 1)))))
    got = _avis(codec, sender, "rouen")[3:]
    assert [(r["numUnique"], r["reason"]) for r in got] == [
        (c, "renouvellement_m-1"), (c, "echeance_depassee")]
    state = DemandeState.from_avro(codec.decode_as(store.get(c.encode()), "DemandeState"))
    assert state.notices_sent == ("2026-03-20:renouvellement_m-2",
                                  "2026-03-20:renouvellement_m-1",
                                  "2026-03-20:echeance_depassee")  # fmt: skip
    # the ids do not depend on the run: a fresh hub gives the same ones
    store2, sender2 = MemoryStore(N), MemorySender()
    proc2 = _processor(codec, geography, store2, sender2)
    asyncio.run(proc2.process([_ev_rec(codec, _event(c, ROUEN, created="2025-03-20"))]))
    asyncio.run(proc2.process(_ticks(codec, proc2, _ms(dt.date(2026, 6, 1)))))
    assert [r["eventId"] for r in _avis(codec, sender2, "rouen")] == [
        r["eventId"] for r in _avis(codec, sender, "rouen") if r["numUnique"] == c]
