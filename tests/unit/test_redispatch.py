"""Issue 22: actor changes found through the territorial index give exactly what a scan of
every stored demand gave, and read only the demands they change.

Oracle (independent of the dispatch code): ``reliability.ledger.in_scope`` — the delivery
contract of docs/architecture.md. After any interleaving of demand events (CRE, MOD, RAD,
SUP) and actor changes (added, territory or filters changed, removed, re-sent unchanged,
several in a row), cut into batches anywhere and pipelined (a batch decided before the
previous one is stored), each actor's feed, replayed (DEMANDE/COPIE hold, RETRAIT/
RADIATION release), holds exactly the active demands in its scope, and each stored state
names exactly those recipients. The same must hold when the store starts with states
written before the index existed (the one-time full pass).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from typing import Any

import pytest
from aiokafka.partitioner import murmur2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import redispatch, territory
from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from reliability.ledger import in_scope
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore, run_pipelined

N = 2  # partitions
#: communes of Seine-Maritime (76) and Eure (27), two EPCIs; Paris (75056) and two of its
#: arrondissements: a demand wishing Paris is wanted by an actor on the 12th (audit P, F1)
COMMUNES = ["76540", "76351", "76681", "76575", "76217", "27229", "27681", "27056",
            "75056", "75112", "75113"]  # fmt: skip
TYPOS = ["T1", "T2", "T3", "T4"]


#: every generated event's occurredAt (2026-01-15T12:00Z): within the reactivation
#: window of a demand created 2025-11-02, whatever the day the test runs
OCCURRED_MS = 1_768_478_400_000

def _part(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % N


def _filters(draw: Any, geography: Any) -> ActorFilters:
    kind = draw(st.sampled_from(["communes", "epci", "dep"]))
    if kind == "communes":
        f = ActorFilters(communes=draw(st.lists(st.sampled_from(COMMUNES), min_size=1,
                                                max_size=3, unique=True)))  # fmt: skip
    elif kind == "epci":
        f = ActorFilters(epcis=[geography.commune(draw(st.sampled_from(COMMUNES))).epci])
    else:
        f = ActorFilters(departements=[draw(st.sampled_from(["76", "27"]))])
    return f.model_copy(update={
        "typologies": draw(st.lists(st.sampled_from(TYPOS), max_size=2, unique=True)),
        "premier_choix_seulement": draw(st.booleans())})  # fmt: skip


@st.composite
def scenarios(draw: Any, geography: Any) -> list[tuple[str, Any]]:
    """A stream of ("event", DemandeEvent) and ("actor", (Actor, deleted)) steps."""
    steps: list[tuple[str, Any]] = []
    actors: dict[str, int] = {}
    live: dict[str, bool] = {}  # numéro -> active
    run = draw(st.integers(0, 99_999))  # numéros of this example (the strategy's own)
    for _ in range(draw(st.integers(10, 45))):
        what = draw(st.sampled_from(["cre", "cre", "mod", "rad", "sup", "actor", "actor"]))
        if what == "actor" or (not live and what != "cre"):
            aid = draw(st.sampled_from(["a", "b", "c", "d"]))
            version = actors.get(aid, 0) + 1
            actors[aid] = version
            deleted = version > 1 and draw(st.integers(0, 5)) == 0
            same = version > 1 and draw(st.integers(0, 4)) == 0  # re-sent unchanged
            steps.append(("actor", (aid, version, None if same else _filters(draw, geography),
                                    deleted)))  # fmt: skip
            continue
        if what == "cre":
            num = f"0761125{len(steps):06d}{run:05d}"
            live[num] = True
            op = "CRE"
        else:
            num = draw(st.sampled_from(sorted(live)))
            op = {"mod": "MOD", "rad": "RAD", "sup": "SUP"}[what]
            if not live[num] and op != "SUP":
                op = "MOD"  # a radiated demand modified: legal input, reactivates it
            if op == "SUP":
                del live[num]
            else:
                live[num] = op != "RAD"
        wishes = draw(st.lists(st.sampled_from(COMMUNES), min_size=1, max_size=3, unique=True))
        typos = draw(st.lists(st.sampled_from(TYPOS), min_size=1, max_size=2, unique=True))
        # radiated for non-renewal and modified within 18 months of the cycle's start
        # (created 2025-11-02, events of 2026-01-15): a legal reactivation; a demand radiated
        # for attribution (RADATT) never comes back (audit N, N2)
        radiation = {"dateRadiation": "2026-01-02", "motifRadiation": "RADREN"} if op == "RAD" \
            else None  # fmt: skip
        steps.append(("event", demande_event(num, wishes, operation=op, typologies=typos,
                                             radiation=radiation,
                                             occurred_at=OCCURRED_MS)))  # fmt: skip
    return steps


_OFFSETS = itertools.count()


def _records(steps: list[tuple[str, Any]], codec: Any) -> list[InputRecord]:
    """The stream as the registry and producers write it: one control per partition.
    Offsets grow across calls, as a topic's do."""
    offsets = _OFFSETS
    last: dict[str, ActorFilters] = {}
    out: list[InputRecord] = []
    for kind, body in steps:
        if kind == "event":
            key = body["numUnique"].encode()
            out.append(InputRecord(topics.DEMANDES, _part(key), next(offsets), key,
                                   codec.encode("DemandeEvent", body)))  # fmt: skip
            continue
        aid, version, filters, deleted = body
        filters = last.get(aid, ActorFilters(communes=["76540"])) if filters is None else filters
        last[aid] = filters
        reg = Actor(id=aid, name=aid, kind="bailleur", version=version,
                    filters=filters).to_avro(deleted=deleted)  # fmt: skip
        value = codec.encode("DispatchControl", {"controlId": str(uuid.uuid4()),
                                                 "issuedAt": 0, "actor": reg})  # fmt: skip
        out.extend(InputRecord(topics.DEMANDES, p, next(offsets), aid.encode(), value)
                   for p in range(N))  # fmt: skip
    return out


def _expected(steps: list[tuple[str, Any]], geography: Any) -> dict[str, set[str]]:
    """actor id -> numéros of the active demands in its final scope (the contract): none
    for an actor removed (its removal withdrew them), its scope for one registered again
    (what it holds settled against what the removal left it: independent audit E3)."""
    actors: dict[str, Actor | None] = {}
    last: dict[str, ActorFilters] = {}
    demands: dict[str, dict[str, Any]] = {}
    for kind, body in steps:
        if kind == "event":
            if body["operation"] == "SUP":
                demands.pop(body["numUnique"], None)
            else:
                demands[body["numUnique"]] = body
            continue
        aid, version, filters, deleted = body
        filters = last.get(aid, ActorFilters(communes=["76540"])) if filters is None else filters
        last[aid] = filters
        actors[aid] = None if deleted else Actor(id=aid, name=aid, kind="bailleur",
                                                 version=version, filters=filters)  # fmt: skip
    out: dict[str, set[str]] = {}
    for aid, actor in actors.items():
        out[aid] = set()
        if actor is None:
            continue
        for num, ev in demands.items():
            lr = ev["demande"]["demandeLogement"]["logementRecherche"]
            wishes = [w["commune"] for w in lr["listeLocalisationSouhaite"]]
            if ev["operation"] != "RAD" and in_scope(actor, wishes, lr["listeTypeLogement"],
                                                     geography):  # fmt: skip
                out[aid].add(num)
    return out


def _held(sender: MemorySender, codec: Any, actor_id: str) -> set[str]:
    held: set[str] = set()
    for _, value in sender.sent.get(topics.feed_topic(actor_id), []):
        r = codec.decode_as(value, "FeedRecord")
        if r["kind"] in ("DEMANDE", "COPIE"):
            held.add(r["numUnique"])
        else:
            held.discard(r["numUnique"])
    return held


def _check(store: MemoryStore, sender: MemorySender, codec: Any,
           expected: dict[str, set[str]]) -> None:  # fmt: skip
    for aid, nums in expected.items():
        assert _held(sender, codec, aid) == nums, aid
    for key, raw in store.data.items():
        state = DemandeState.from_avro(codec.decode_as(raw, "DemandeState"))
        if state.active:
            want = {a for a, nums in expected.items() if key.decode() in nums}
            assert set(state.recipients) == want, key


def _process_draining(proc: Processor, sender: MemorySender,
                      records: list[InputRecord]) -> list[Any]:  # fmt: skip
    """``records`` in one batch, then the DispatchResume records the processor writes,
    those of each batch in the next one, until none is left; each batch's stats."""
    offsets = itertools.count(60_000_000)
    parts = {proc.partition_key(p): p for p in range(proc.store.partitions)}
    stats: list[Any] = []

    async def go() -> None:
        queue = [records]
        while queue:
            batch = queue.pop(0)
            seen = len(sender.sent.get(topics.DEMANDES, []))
            stats.append(await proc.process(batch))
            follow = [InputRecord(topics.DEMANDES, parts[k], next(offsets), k, v)
                      for k, v in sender.sent.get(topics.DEMANDES, [])[seen:] if k is not None]
            if follow:
                queue.append(follow)

    asyncio.run(go())
    return stats


def _property(geography: Any, codec: Any, data: Any, seed: int, legacy_at: int,
              chunk: int, legacy: bool) -> None:
    steps = data.draw(scenarios(geography))
    records = _records(steps, codec)
    rng = random.Random(seed)
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=chunk)
    # with ``legacy``, the first part was written "before the index existed": every own
    # key is then dropped and a restarted worker goes on (the one-time upgrade pass)
    cut = len(records) * legacy_at // 100
    asyncio.run(run_pipelined(proc, records[:cut], rng, sender=sender))
    if legacy:
        store.own.clear()
        proc = Processor(proc.index, codec, store, sender, redispatch_chunk=chunk)
    asyncio.run(run_pipelined(proc, records[cut:], rng, sender=sender))
    _check(store, sender, codec, _expected(steps, geography))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32), legacy_at=st.integers(0, 100),
       chunk=st.sampled_from([1, 2, 3, 7, 5000]))
def test_index_redispatch_keeps_the_delivery_contract(
        geography: Any, codec: Any, data: Any, seed: int, legacy_at: int,
        chunk: int) -> None:  # fmt: skip
    """``chunk``: index entries per batch; small ones continue through DispatchResume
    records, interleaved with the events behind them."""
    _property(geography, codec, data, seed, legacy_at, chunk, legacy=False)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32), legacy_at=st.integers(0, 100),
       chunk=st.sampled_from([2, 5000]))
def test_upgrade_pass_keeps_the_delivery_contract(
        geography: Any, codec: Any, data: Any, seed: int, legacy_at: int,
        chunk: int) -> None:  # fmt: skip
    _property(geography, codec, data, seed, legacy_at, chunk, legacy=True)


def test_a_change_reads_only_the_demands_it_changes(geography: Any, codec: Any) -> None:
    """200 demands over two départements; an actor of one commune: its change reads the
    demands it copies, not the stock; an unchanged re-send reads none."""
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender)
    steps: list[tuple[str, Any]] = [("actor", ("seed", 1, ActorFilters(departements=["27"]),
                                               False))]  # fmt: skip
    steps += [("event", demande_event(new_num_unique(), [COMMUNES[i % 8]]))
              for i in range(200)]  # fmt: skip
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(1), sender=sender))
    rouen = ActorFilters(communes=["76540"])
    change = [("actor", ("r", 1, rouen, False))]
    stats = _process_draining(proc, sender, _records(change, codec))
    copies = len(_held(sender, codec, "r"))
    assert copies == 25  # every 8th demand wishes Rouen
    assert sum(s.redispatch_reads for s in stats) == copies
    again = [("actor", ("r", 2, rouen, False))]
    stats = _process_draining(proc, sender, _records(again, codec))
    assert len(stats) == 1  # no chunk at all
    assert stats[0].redispatch_reads == 0 and len(_held(sender, codec, "r")) == copies
    _check(store, sender, codec, _expected(steps + change + again, geography))


def test_index_entries_follow_the_wishes(geography: Any) -> None:
    index = TerritoryIndex(geography)
    ev = demande_event("076112512015461460", ["75112", "76540"], typologies=["T3", "T2"])
    state = DemandeState(num_unique=ev["numUnique"], version=1, active=True,
                         recipients=frozenset(), last_event_id="e", last_operation="CRE",
                         occurred_at=0, demande=ev["demande"])  # fmt: skip
    entries = {territory.parse(k, v)[1] for k, v in territory.entries(state, index).items()}
    # an arrondissement is found under Paris too; ranks are the wishes' positions
    assert {(h.commune_key, h.rank, h.typologies) for h in entries} == {
        ("c:75112", 0, frozenset({"T2", "T3"})), ("c:75056", 0, frozenset({"T2", "T3"})),
        ("c:76540", 1, frozenset({"T2", "T3"}))}  # fmt: skip
    from dataclasses import replace

    assert territory.entries(replace(state, active=False), index) == {}


def test_a_large_redispatch_goes_in_chunks_behind_regular_events(geography: Any,
                                                                 codec: Any) -> None:  # fmt: skip
    """A département-wide actor over 120 demands with 10 index entries per batch: no batch
    sends more than 10 copies, the rest follows DispatchResume records queued behind the
    events published meanwhile, and an event published after the control reaches the
    actor (as a DEMANDE: it sees the actor changed) without a copy after it."""
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=10)
    eure = [c for c in COMMUNES if c.startswith("27")]
    nums = [f"0271125{i:06d}00001" for i in range(120)]
    steps: list[tuple[str, Any]] = [("actor", ("rouen", 1, ActorFilters(communes=["76540"]),
                                               False))]  # fmt: skip
    steps += [("event", demande_event(n, [eure[i % len(eure)]])) for i, n in enumerate(nums)]
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(1), sender=sender))
    change = [("actor", ("dep27", 1, ActorFilters(departements=["27"]), False))]
    later = [("event", demande_event(nums[-1], [eure[0]], operation="MOD"))]
    records = _records(change + later, codec)
    queue, per_batch, offsets = list(records), [], itertools.count(20_000_000)

    async def drain() -> None:
        nonlocal queue
        while queue:
            rec, queue = queue[0], queue[1:]
            seen = len(sender.sent.get(topics.DEMANDES, []))
            before = len(sender.sent.get(topics.feed_topic("dep27"), []))
            await proc.process([rec])
            per_batch.append(len(sender.sent.get(topics.feed_topic("dep27"), [])) - before)
            for key, value in sender.sent.get(topics.DEMANDES, [])[seen:]:
                assert key is not None
                queue.append(InputRecord(topics.DEMANDES, rec.partition if key.startswith(
                    b"resume") else _part(key), next(offsets), key, value))

    asyncio.run(drain())
    feed = [codec.decode_as(v, "FeedRecord")
            for _, v in sender.sent[topics.feed_topic("dep27")]]  # fmt: skip
    assert max(per_batch) <= 10 and len(per_batch) > 12  # chunks, not one batch
    assert sorted(r["numUnique"] for r in feed) == sorted(nums)  # each demand once
    last = [r["kind"] for r in feed if r["numUnique"] == nums[-1]]
    assert last == ["DEMANDE"]  # the MOD after the control: no copy after it
    assert feed.index(next(r for r in feed if r["numUnique"] == nums[-1])) < len(feed) - 1
    _check(store, sender, codec, _expected(steps + change + later, geography))


def test_a_partition_examines_one_chunk_whatever_the_chains(geography: Any,
                                                            codec: Any) -> None:  # fmt: skip
    """The chunk is shared between a partition's chains: three actor changes in three
    successive batches start three chains per partition (links 0 of 96, 48 and 32
    entries, then 32 each, the chunk being 96); batches that read every pending record at
    once (a worker's backlog: the chains' resume records and a trickle of events) examine
    at most 96 + 48 + 32 entries per partition, then 96 (links of a whole chunk each would
    examine 288), so a trickle event waits for about one chunk of work, not one per chain;
    every copy still arrives once."""
    chunk = 96
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=chunk)
    eure = [c for c in COMMUNES if c.startswith("27")]
    nums = [f"0271126{i:06d}00001" for i in range(900)]
    steps: list[tuple[str, Any]] = [("actor", ("seed", 1, ActorFilters(communes=["76540"]),
                                               False))]  # fmt: skip
    steps += [("event", demande_event(n, [eure[i % len(eure)]])) for i, n in enumerate(nums)]
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(2), sender=sender))
    changes = [("actor", (f"dep27-{i}", 1, ActorFilters(departements=["27"]), False))
               for i in range(3)]  # fmt: skip
    offsets = itertools.count(30_000_000)
    queue: list[InputRecord] = []
    examined: list[int] = []
    trickle: list[str] = []

    def follow(seen: int, partition_of_resume: dict[bytes, int]) -> None:
        for key, value in sender.sent.get(topics.DEMANDES, [])[seen:]:
            assert key is not None
            queue.append(InputRecord(topics.DEMANDES, partition_of_resume.get(key, _part(key)),
                                     next(offsets), key, value))  # fmt: skip

    resume_partitions = {proc.partition_key(p): p for p in range(N)}

    async def step(batch: list[InputRecord]) -> None:
        seen = len(sender.sent.get(topics.DEMANDES, []))
        stats = await proc.process(batch)
        examined.append(stats.redispatch_reads)
        follow(seen, resume_partitions)

    async def drive() -> None:
        nonlocal queue
        for change in changes:  # one change per batch: three chains per partition
            await step(_records([change], codec))
        while queue:
            batch, queue = queue, []
            trickle.append(new_num_unique())
            batch.append(_records([("event", demande_event(trickle[-1], [eure[0]]))],
                                  codec)[0])  # fmt: skip
            await step(batch)

    asyncio.run(drive())
    # each demand wishes one commune: one index entry per state read (a copy); each
    # partition has at most one link per chain pending, each examining its share
    assert max(examined) <= N * (chunk + chunk // 2 + chunk // 3), examined
    assert max(examined[4:]) <= N * chunk, examined  # the shares once all chains began
    assert len(examined) > 3 * len(nums) // (N * chunk)  # in chunks, not at once
    for i in range(3):  # every demand, the trickle's too, exactly once
        feed = [codec.decode_as(v, "FeedRecord")["numUnique"]
                for _, v in sender.sent[topics.feed_topic(f"dep27-{i}")]]  # fmt: skip
        assert sorted(feed) == sorted(nums + trickle)


def test_wishes_changed_before_the_upgrade_leave_no_stale_index_entry(
        geography: Any, codec: Any) -> None:  # fmt: skip
    """Found by reasoning on the upgrade property: a demand whose wishes change while its
    partition's index is not complete yet (states written before the index existed, or
    before the partition's first control) must not keep an index entry under the commune
    it no longer wishes. Such an entry answers for the actor's old territory and hides a
    change: here actor A over Rouen widens to Rouen + Évreux, the demand now wishes only
    Évreux, and A must receive its copy."""
    rouen, evreux = "76540", "27229"
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender)
    # the registry's actors are known at start (hub.actors), no control seen yet
    proc.index.upsert(Actor(id="a", name="a", kind="bailleur", version=1,
                            filters=ActorFilters(communes=[rouen])))  # fmt: skip
    num = new_num_unique()
    first = [("event", demande_event(num, [rouen]))]
    moved = [("event", demande_event(num, [evreux], operation="MOD"))]
    other = [("actor", ("b", 1, ActorFilters(departements=["23"]), False))]  # the upgrade
    widen = [("actor", ("a", 2, ActorFilters(communes=[rouen, evreux]), False))]
    for steps in (first, moved, other, widen):  # one batch each (and its chunks), stored
        _process_draining(proc, sender, _records(steps, codec))
    feed = [codec.decode_as(v, "FeedRecord")["kind"]
            for _, v in sender.sent[topics.feed_topic("a")]]  # fmt: skip
    assert feed == ["DEMANDE", "RETRAIT", "COPIE"]
    assert num in _held(sender, codec, "a")


def test_every_link_of_a_batch_runs_its_share_of_its_chunk(geography: Any,
                                                           codec: Any) -> None:  # fmt: skip
    """Four actor changes in four batches: four chains in the partition (100 demands per
    territory), links 0 with the worker's chunk (128) shared between the chains in progress
    when each began (128, 64, 42, 32). A batch holding the four links runs them all at
    their positions, each over its record's chunk, none passed on: whether and how far a
    link runs depends on nothing but its record (dispatch/redispatch.py, "Replay"; a batch
    budget passed three of them on whole). The first one reaches the end of its territory
    and ends its chain: the three successors get 128 / 3 = 42 entries each."""
    store, sender = MemoryStore(1), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=128)
    eure = ["27229", "27681", "27056", "27375"]
    nums = {c: [f"0271127{i:06d}{j:05d}" for i in range(100)] for j, c in enumerate(eure)}
    offsets = itertools.count(40_000_000)

    def rec(key: bytes, value: bytes) -> InputRecord:
        return InputRecord(topics.DEMANDES, 0, next(offsets), key, value)

    def control(aid: str, filters: ActorFilters) -> InputRecord:
        reg = Actor(id=aid, name=aid, kind="bailleur", version=1,
                    filters=filters).to_avro(deleted=False)  # fmt: skip
        return rec(aid.encode(), codec.encode("DispatchControl", {
            "controlId": aid, "issuedAt": 0, "actor": reg}))  # fmt: skip

    events = [rec(n.encode(), codec.encode("DemandeEvent", demande_event(n, [c])))
              for c in eure for n in nums[c]]  # fmt: skip
    _process_draining(proc, sender, [control("seed", ActorFilters(communes=["76540"])),
                                     *events])  # fmt: skip
    seen = len(sender.sent.get(topics.DEMANDES, []))
    for c in eure:  # one batch each: four chains
        asyncio.run(proc.process([control(f"a{c}", ActorFilters(communes=[c]))]))
    links = [rec(k, v) for k, v in sender.sent[topics.DEMANDES][seen:] if k is not None]
    assert len(links) == 4
    seen = len(sender.sent[topics.DEMANDES])
    stats = asyncio.run(proc.process(links))
    written = [codec.decode_as(v, "DispatchResume")
               for _, v in sender.sent[topics.DEMANDES][seen:]]  # fmt: skip
    chunks = [codec.decode_as(r.value, "DispatchResume")["chunk"] for r in links]
    assert chunks == [128, 64, 42, 32]
    assert stats.redispatch_reads == 100 + 64 + 42 + 32
    assert [r["step"] for r in written] == [1, 1, 1]  # every link ran, none passed on
    assert [r["chunk"] for r in written] == [42, 42, 42]
    _process_draining(proc, sender, [rec(k, v) for k, v in sender.sent[topics.DEMANDES][seen:]
                                     if k is not None])  # fmt: skip
    for c in eure:
        assert _held(sender, codec, f"a{c}") == set(nums[c])


@pytest.mark.parametrize("moves", [
    "not json", "{}", "[1, 2]", '[["a", null]]',
    '[["a", null, {"departements": ["9Z"]}]]',  # no such département
    '[["a", null, {"communes": ["76540"], "typologies": "T2"}]]',  # a string, not a list
])  # fmt: skip
def test_a_malformed_resume_record_is_dead_lettered_and_costs_no_event(
        geography: Any, codec: Any, moves: str) -> None:  # fmt: skip
    """A ``DispatchResume`` is the hub's own record, but anyone who can write to
    hub.demandes can forge one: one whose moves do not decode as the schema's JSON
    (issue 22's record model: a list of [actor id, filters before, filters after]) is
    dead-lettered with its reason, and the event behind it is dispatched."""
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender)
    seed = _records([("actor", ("seed", 1, ActorFilters(communes=["76540"]), False))], codec)
    asyncio.run(proc.process(seed))
    num = new_num_unique()
    part = _part(num.encode())
    forged = codec.encode("DispatchResume", {"resumeId": str(uuid.uuid4()), "partition": part,
                                             "moves": moves, "afterKey": b"\xff\x00junk"})
    records = [InputRecord(topics.DEMANDES, part, 50_000_000, proc.partition_key(part), forged),
               *_records([("event", demande_event(num, ["76540"]))], codec)]  # fmt: skip
    stats = asyncio.run(proc.process(records))
    assert stats.dead_letters == 1
    assert stats.dead_letter_reasons and "CONTROL" not in stats.dead_letter_reasons
    assert not [k for k, _ in sender.sent.get(topics.DEMANDES, [])]  # not passed on
    assert _held(sender, codec, "seed") == {num}


@pytest.mark.parametrize("siblings", [True, False])
def test_a_demand_wishing_several_communes_of_a_territory_is_read_once(
        geography: Any, codec: Any, monkeypatch: pytest.MonkeyPatch,
        siblings: bool) -> None:  # fmt: skip
    """60 demands each wishing three communes of the Eure, a département-wide actor, chunks
    of 10 entries: a demand's three entries fall in different chunks. With its siblings in
    its entries, each demand is decided once, at its first entry: one state read per copy.
    Without (entries written before them, or a demand wishing too many communes), one
    read per entry met (180: the later ones find the actor already there)."""
    if not siblings:
        monkeypatch.setattr(territory, "MAX_SIBLINGS", 0)
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=10)
    eure = ["27229", "27681", "27056"]
    steps: list[tuple[str, Any]] = [("actor", ("seed", 1, ActorFilters(communes=["76540"]),
                                               False))]  # fmt: skip
    steps += [("event", demande_event(new_num_unique(), eure)) for _ in range(60)]
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(4), sender=sender))
    change = [("actor", ("dep27", 1, ActorFilters(departements=["27"]), False))]
    stats = _process_draining(proc, sender, _records(change, codec))
    assert len(_held(sender, codec, "dep27")) == 60
    reads = sum(s.redispatch_reads for s in stats)
    assert reads == (60 if siblings else 180), reads
    _check(store, sender, codec, _expected(steps + change, geography))


def test_the_plans_of_many_chains_visited_in_turn_are_kept(geography: Any,
                                                           monkeypatch: Any) -> None:  # fmt: skip
    """A bulk import runs a chain per batch and partition (~64 for 2,000 offices), each
    chunk of which needs its chain's plan: visited in turn, they must all stay cached (a
    cache of 16, first in first out, missed at every chunk), within the prefix budget
    (least recently used evicted first)."""
    expanded: list[str] = []
    real = territory.actor_keys

    def counting(filters: ActorFilters | None, geo: Any) -> frozenset[str]:
        expanded.append("x")
        return real(filters, geo)

    monkeypatch.setattr(territory, "actor_keys", counting)
    monkeypatch.setattr(redispatch, "_PLANS", type(redispatch._PLANS)())
    index = TerritoryIndex(geography, [])
    # current communes without parts: a plan of one prefix each (a part's adds its
    # whole's ``w:`` key)
    communes = sorted(c for c in geography.communes_of_departement("76")
                      if geography.commune(c).parent is None)[:64]  # fmt: skip
    chains = [json.dumps([[f"office-{i}", None, {"communes": [c]}]])
              for i, c in enumerate(communes)]  # fmt: skip
    for _ in range(3):
        for moves in chains:
            plan = redispatch._plan(index, moves)
            assert plan.prefixes == [territory.scan_prefix(f"c:{communes[chains.index(moves)]}")]
    assert len(expanded) == 2 * len(chains)  # old and new territories, once per chain
    # the budget: a plan of one prefix each, room for 10, the least recently used go
    monkeypatch.setattr(redispatch, "PLANS_BUDGET", 10)
    redispatch._plan(index, chains[0])  # a hit: now the most recently used
    redispatch._plan(index, json.dumps([["office-new", None, {"communes": [communes[0]]}]]))
    assert len(redispatch._PLANS) == 10
    kept = {moves for _, moves in redispatch._PLANS}
    assert chains[0] in kept and chains[1] not in kept
