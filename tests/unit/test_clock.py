"""Issue 20 points 1-3: the demand's clock, in memory (dispatch/deadlines.py).

The expected notices are computed here from the demands' dates with this file's own
month arithmetic (the rule of docs/lifecycle.md), never by calling dispatch.deadlines.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import io
import itertools
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka.partitioner import murmur2
from fastavro import schemaless_writer

from dispatch.deadlines import Deadlines
from dispatch.delais import DelaiTable
from dispatch.matching import TerritoryIndex
from dispatch.processor import InputRecord, Processor
from dispatch.state import DemandeState
from hub import topics
from hub.actors import Actor, ActorFilters
from hub.errors import ConfigError
from schemas.codec import MARKER
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

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
    """The three renewal notices of a cycle starting at ``start`` (doc: -2, -1, 0 months)."""
    end = _shift(start, 12)
    return [(_shift(end, -2), "renouvellement_m-2"), (_shift(end, -1), "renouvellement_m-1"),
            (end, "echeance_depassee")]  # fmt: skip


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
        (dt.date(2025, 2, 28), "echeance_depassee")]


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


async def _pipelined(proc: Processor, records: list[InputRecord], rng: random.Random) -> None:
    """Random batches, each submitted before the previous one is stored (the worker)."""
    previous = None
    while records:
        n = rng.randint(1, 15)
        batch, records = records[:n], records[n:]
        sub = await proc.submit(batch)
        if previous is not None:
            await proc.settle(previous)
        previous = sub
    if previous is not None:
        await proc.settle(previous)


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
    asyncio.run(_pipelined(proc, list(records), rng))
    for actor, want in expected.items():
        got = _feed(codec, sender, actor, dedup=False)
        assert _per_demand(got) == _per_demand(want), actor
    assert _due_keys(store) == _untold(steps)  # no stale entry, none missing
    asyncio.run(_pipelined(proc, list(records), rng))  # the whole stream read again
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


DELAIS = {"version": "test", "departements": {
    "76": {"status": "known", "months": 18, "source": "test fixture, not a real arrêté",
           "date": "2026-01-01"},
    "27": {"status": "unknown", "months": None, "source": None, "date": None}}}


def test_delai_anormalement_long(codec: Any, geography: Any) -> None:
    """Crossing the table's délai notifies once and sets the flag; the SNE's indicator
    wins over the table, and a disagreement is counted."""
    store, sender = MemoryStore(N), MemorySender()
    table = DelaiTable.from_dict(DELAIS)
    proc = _processor(codec, geography, store, sender,
                      deadlines=Deadlines((2, 1, 0), table))  # fmt: skip
    a, b, c = new_num_unique(), new_num_unique(), new_num_unique()
    created = "2025-01-15"  # 18 months: 15 July 2026 (renewed, so no renewal notice then)
    asyncio.run(proc.process([
        _ev_rec(codec, _event(a, ROUEN, "REN", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(b, ROUEN, "REN", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(c, ROUEN, "REN", created=created, renewed="2026-01-10",
                              dal=False))]))  # fmt: skip
    # b: the SNE says "délai anormalement long" before the table would: it wins, no notice;
    # counted as a disagreement (at occurredAt, March 2026, the table says not yet)
    stats = asyncio.run(proc.process([_ev_rec(codec, _event(
        b, ROUEN, "MOD", created=created, renewed="2026-01-10", dal=True,
        occurred_at=_ms(dt.date(2026, 3, 1))))]))
    assert stats.delai_disagreements == 1
    for day in (dt.date(2026, 7, 14), dt.date(2026, 7, 15), dt.date(2026, 8, 1)):
        asyncio.run(proc.process(_ticks(codec, proc, _ms(day))))
    dal = [r for r in _avis(codec, sender, "rouen") if r["reason"] == "delai_anormalement_long"]
    assert [(r["numUnique"], r["occurredAt"]) for r in dal] == [(a, _ms(dt.date(2026, 7, 15)))]
    states = {n: DemandeState.from_avro(codec.decode_as(store.get(n.encode()), "DemandeState"))
              for n in (a, b, c)}  # fmt: skip
    assert (states[a].delai_anormalement_long, states[a].delai_source) == (True, "hub")
    assert (states[b].delai_anormalement_long, states[b].delai_source) == (True, "sne")
    assert (states[c].delai_anormalement_long, states[c].delai_source) == (False, "sne")
    # a later MOD without the indicator keeps the flag; the SNE saying False after the
    # crossing disagrees with the table
    stats = asyncio.run(proc.process([
        _ev_rec(codec, _event(a, ROUEN, "MOD", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(c, ROUEN, "MOD", created=created, renewed="2026-01-10",
                              dal=False, occurred_at=_ms(dt.date(2026, 8, 2))))]))
    assert stats.delai_disagreements == 1
    st = DemandeState.from_avro(codec.decode_as(store.get(a.encode()), "DemandeState"))
    assert (st.delai_anormalement_long, st.delai_source) == (True, "hub")


def test_the_shipped_table_knows_no_value_it_cannot_source() -> None:
    table = DelaiTable.load()
    assert len(table.by_departement) >= 101
    assert {d.months for d in table.by_departement.values()} == {None}
    with pytest.raises(ConfigError, match="needs months > 0, a source and a date"):
        DelaiTable.from_dict({"departements": {"76": {"status": "known", "months": 12}}})


def test_a_v5_state_reads_with_the_clock_defaults(codec: Any) -> None:
    """A state written before the clock (DemandeState v5) decodes with no notice sent and
    the délai unknown."""
    ws = codec.registry.version("DemandeState", "v5")
    old = {"numUnique": "076112500000110691", "version": 1, "active": True,
           "recipients": ["rouen"], "lastEventId": "e", "lastOperation": "CRE",
           "occurredAt": 1, "partition": 0, "offset": 3, "demande": None, "former": [],
           "recentEventIds": ["e"]}  # fmt: skip
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, old)
    state = DemandeState.from_avro(codec.decode_as(MARKER + ws.fingerprint + body.getvalue(),
                                                   "DemandeState"))  # fmt: skip
    assert state.notices_sent == () and state.delai_anormalement_long is None
    assert state.delai_source is None and state.recipients == frozenset({"rouen"})


def test_recorder_counts_disagreements_and_clock_reads() -> None:
    from dispatch.processor import BatchStats
    from monitoring import metrics as m
    from monitoring.recorder import record_batch

    def value(name: str) -> float:
        return m.REGISTRY.get_sample_value(name) or 0.0

    before = (value("passerelle_delai_disagreements_total"),
              value("passerelle_clock_states_read_total"))  # fmt: skip
    record_batch(BatchStats(delai_disagreements=2, clock_reads=5,
                            inputs={(topics.DEMANDES, "TICK"): 1}))  # fmt: skip
    assert value("passerelle_delai_disagreements_total") - before[0] == 2
    assert value("passerelle_clock_states_read_total") - before[1] == 5
    assert m.REGISTRY.get_sample_value("passerelle_events_in_total",
                                       {"topic": topics.DEMANDES, "operation": "TICK"})


def test_the_worker_ticks_its_assigned_partitions(codec: Any, geography: Any) -> None:
    """The timer writes one tick per assigned hub.demandes partition, routed there by the
    default partitioner; ``hub clock tick --now`` reads a naive time as Europe/Paris."""
    from types import SimpleNamespace

    from faust.types import TP

    from dispatch.ticks import tick_assigned
    from hub.cli.clock import parse_now

    sender = MemorySender()
    proc = _processor(codec, geography, MemoryStore(N), sender)
    app = SimpleNamespace(assignor=SimpleNamespace(assigned_actives=lambda: {
        TP(topics.DEMANDES, 3), TP(topics.DEMANDES, 1), TP("other", 0)}))
    assert asyncio.run(tick_assigned(app, proc, codec, sender, now_ms=1234)) == [1, 3]
    sent = sender.sent[topics.DEMANDES]
    assert [_part(k) for k, _ in sent if k is not None] == [1, 3]
    assert [codec.decode_as(v, "DispatchTick")["now"] for _, v in sent] == [1234, 1234]
    assert parse_now("2026-09-02") == _ms(dt.date(2026, 9, 2))


def test_states_stored_before_the_clock_are_brought_in_by_chunks(
        codec: Any, geography: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose states predate the due index (no entries, no marker): the ticks
    write their entries a chunk at a time and each demand is told its notice once,
    including one modified (entries unchanged, so not written by its diff) before the
    pass reached it."""
    import dispatch.deadlines as deadlines

    monkeypatch.setattr(deadlines, "UPGRADE_CHUNK", 3)
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    old = [new_num_unique() for _ in range(30)]
    for num in old:  # what a hub without the clock stored
        state = DemandeState(num_unique=num, version=1, active=True,
                             recipients=frozenset({"rouen", "dep"}), last_event_id="e",
                             last_operation="CRE", occurred_at=0,
                             demande=_event(num, ROUEN, created="2025-02-10")["demande"])
        store.put(num.encode(), _part(num.encode()), codec.encode("DemandeState",
                                                                 state.to_avro()))
    assert _due_keys(store) == set()
    asyncio.run(proc.process([_ev_rec(codec, _event(old[-1], ROUEN, "MOD",
                                                    created="2025-02-10"))]))
    now = _ms(dt.date(2025, 12, 11))  # the -2 months notice of all of them (10 Dec.)
    asyncio.run(proc.process(_ticks(codec, proc, now)))
    per_partition = [sum(_part(n.encode()) == p for n in old) for p in range(N)]
    # the chunk brought in by a tick is told at that tick, not one later
    assert len(_avis(codec, sender, "rouen")) == sum(min(3, k) for k in per_partition)
    for _ in range(11):
        asyncio.run(proc.process(_ticks(codec, proc, now)))
    told = [r["numUnique"] for r in _avis(codec, sender, "rouen")]
    assert sorted(told) == sorted(old)
    assert all(store.get(b"\x00d-complete:%d" % p, p) == b"1" for p in range(N))
    assert {c for _, c, _ in _due_keys(store)} == {"renouvellement_m-1"}


def test_notice_months_are_checked() -> None:
    with pytest.raises(ConfigError, match="0 to 11"):
        Deadlines((2, 12))
    assert Deadlines((0, 3)).notice_months == (3, 0)


def test_a_stale_entry_is_removed_never_fired(codec: Any, geography: Any) -> None:
    """An entry the demand's state does not have (left by a race of the upgrade pass) is
    checked against the state, removed, and sends nothing; a live one beside it fires."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    num, gone = new_num_unique(), new_num_unique()
    asyncio.run(proc.process([_ev_rec(codec, _event(num, ROUEN, created="2025-03-20"))]))
    p = _part(num.encode())
    stale = b"\x00d:%013d\x00renouvellement_m-1\x00%s" % (_ms(dt.date(2025, 6, 1)), num.encode())
    orphan = b"\x00d:%013d\x00echeance_depassee\x00%s" % (_ms(dt.date(2025, 6, 1)),
                                                          gone.encode())  # fmt: skip
    store.put(stale, p, b"")
    store.put(orphan, _part(gone.encode()), b"")
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 21)))))
    assert [(r["numUnique"], r["reason"]) for r in _avis(codec, sender, "rouen")] == [
        (num, "renouvellement_m-2")]
    assert (p, stale) not in store.own and (_part(gone.encode()), orphan) not in store.own
    assert {c for _, c, n in _due_keys(store)} == {"renouvellement_m-1"}


def test_a_notice_reaches_the_file_and_soap_channels(codec: Any, geography: Any) -> None:
    """The push channels copy the feed: an AVIS is an ``enregistrement`` of a DIS file
    and a SOAP push with ``nature="AVIS"`` and its threshold as ``motif``."""
    import json

    from connectors.files.disfile import render_batch
    from hub.delivery.soap_envelope import envelope

    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    num = new_num_unique()
    asyncio.run(proc.process([_ev_rec(codec, _event(num, ROUEN, created="2025-03-20"))]))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 21)))))
    avis = _avis(codec, sender, "rouen")[0]
    doc = render_batch("rouen", 0, [(7, avis)])
    assert b'nature="AVIS"' in doc and b'motif="renouvellement_m-2"' in doc
    soap = envelope(json.dumps(avis).encode(), 7)
    assert b'nature="AVIS"' in soap and b'motif="renouvellement_m-2"' in soap


@pytest.mark.parametrize("kind", ["memory", "rocksdict"])
def test_the_worker_stores_scan_due_entries_in_due_order(kind: str, tmp_path: Any) -> None:
    """Both faust-table stores answer the due scan (an open prefix, ``\\x00d:``): only
    the partition's due entries, in key (due) order, after the cursor — and the territorial
    scan (prefixes closed by a NUL) is unchanged."""
    from types import SimpleNamespace

    from dispatch.deadlines import PREFIX, entry_key
    from dispatch.tablestore import MemoryTableStore, RocksTableStore

    nums = [new_num_unique() for _ in range(40)]
    if kind == "memory":
        store: Any = MemoryTableStore(SimpleNamespace(data={}), N)
        put = store._apply
    else:
        from rocksdict import Rdict

        dbs = {p: Rdict(str(tmp_path / f"p{p}")) for p in range(N)}
        store = RocksTableStore(SimpleNamespace(data=SimpleNamespace(
            _db_for_partition=lambda p: dbs[p])), N)
        put = store._apply
    want: dict[int, list[bytes]] = {p: [] for p in range(N)}
    for i, num in enumerate(nums):
        p = _part(num.encode())
        key = entry_key(1_700_000_000_000 + (i * 7919) % 1000, "echeance_depassee", num)
        put(p, key, b"")
        put(p, b"\x00t:c:76540\x00" + num.encode(), b"0|T2")
        put(p, num.encode(), b"state")
        want[p].append(key)
    for p in range(N):
        got = [k for k, _ in store.scan_from(p, [PREFIX], PREFIX, 1000)]
        assert got == sorted(want[p])
        if len(got) > 2:
            assert [k for k, _ in store.scan_from(p, [PREFIX], got[1], 1000)] == got[2:]
        territorial = [k for k, _ in store.scan_from(p, [b"\x00t:c:76540\x00"], b"", 1000)]
        assert len(territorial) == len(want[p])
    if kind == "rocksdict":
        for db in dbs.values():
            db.close()
