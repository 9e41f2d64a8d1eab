"""A worker crash during a re-dispatch must not multiply its work (independent audit E,
E4). Before dispatch/chains.py, every ``DispatchResume`` read again after a crash wrote
its successor again, and each copy ran to the end of the territories: replaying N links
of a chain of L cost about N·L inputs (a ``kill -9`` with chunks of 5 over 720 demands:
1.5 million inputs on the real worker). Now each chain's next step is kept in the
partition's state and a link that is not its chain's next is dropped.

Work is counted in input records handed to the processor (tests/support/chain_log.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dispatch import chains
from dispatch.processor import Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.chain_log import COMMUNES, Log, deduped, read
from tests.support.demandes import demande_event

LATE = ActorFilters(departements=["76"])
#: the moves of a record registering LATE (the three-element form every writer reads)
_MOVES = json.dumps([["late", None, LATE.model_dump(mode="json")]])


def _worker(log: Log, geography: Any, index: TerritoryIndex | None = None,
            chunk: int = 2) -> Processor:  # fmt: skip
    """A worker over ``log``'s store and feeds (``index``: the actors a restarted worker
    reads from hub.actors, the latest registrations)."""
    return Processor(index or TerritoryIndex(geography), log.codec, log.store, log.sender,
                     redispatch_chunk=chunk)  # fmt: skip


def _stocked(codec: Any, geography: Any, count: int) -> tuple[Log, Processor]:
    """A partition with an actor elsewhere (its index complete) and ``count`` demands of
    Seine-Maritime, all stored."""
    log = Log(codec)
    log.control("seed", ActorFilters(communes=["27229"]))
    log.stock(count)
    proc = _worker(log, geography)
    asyncio.run(read(log, proc, 0, size=lambda: 100))
    return log, proc


def _cursors(log: Log) -> list[bytes]:
    return [k for _, k in log.store.own if k.startswith(chains.CURSOR)]


def test_links_read_again_after_the_chain_ended_cost_one_input_each(
    geography: Any, codec: Any
) -> None:
    """The audit's repro: a 22-link chain stored to its end, then its last 5 links read
    again by the next owner (their offsets were not committed). Before: each wrote its
    successor again and that copy ran to the end (15 records processed, 5+4+3+2+1)."""
    log, first = _stocked(codec, geography, 42)
    start = log.control("late", LATE)
    asyncio.run(read(log, first, start))
    links = list(range(start + 1, len(log.records)))
    copies = len(log.feed("late"))
    assert copies == 42 and len(links) > 10 and not _cursors(log)  # the end leaves nothing
    second = _worker(log, geography, TerritoryIndex(geography, first.index.actors()))
    end = len(log.records)
    handed, _ = asyncio.run(read(log, second, links[-5]))
    assert handed == 5 and len(log.records) == end  # no successor written again
    assert len(log.feed("late")) == copies


def test_a_crash_mid_chain_costs_about_the_records_read_again(geography: Any, codec: Any) -> None:
    """A chain of 22 links: the first worker stores 8 links, sends 4 more without storing
    them, dies; the next owner reads again from 3 links before the first unstored one.
    Its work is the crash-free rest plus one input per link read again; the feeds equal
    the crash-free run's once duplicates are dropped."""
    reference, proc = _stocked(codec, geography, 42)
    stock = list(reference.records)
    start = reference.control("late", LATE)
    asyncio.run(read(reference, proc, start))
    crash_free = len(reference.records) - start

    log = Log(codec, records=stock[:])
    first = _worker(log, geography)
    asyncio.run(read(log, first, 0, size=lambda: 100))
    assert log.control("late", LATE) == start
    handed, unstored = asyncio.run(read(log, first, start, stored=9, sent=4))
    second = _worker(log, geography, TerritoryIndex(geography, first.index.actors()))
    again, _ = asyncio.run(read(log, second, unstored - 3))
    replayed = handed - (unstored - 3 - start)
    assert handed + again <= crash_free + 2 * replayed, (handed, again, crash_free)
    assert set(deduped(log.feed("late"))) == set(deduped(reference.feed("late")))
    assert not _cursors(log)


def test_a_link_of_an_older_writer_runs_once_and_its_chain_is_tracked(
    geography: Any, codec: Any
) -> None:
    """A ``DispatchResume`` without ``chainId`` (written before the chains were kept)
    runs as before; its successor carries a chain named after it, so the old link read
    again while that chain runs is dropped instead of starting another chain."""
    log, proc = _stocked(codec, geography, 14)
    proc.index.upsert(Actor(id="late", name="late", kind="etat", version=1, filters=LATE))
    legacy = codec.encode(
        "DispatchResume",
        {"resumeId": "old-writer-1", "partition": 0, "moves": _MOVES, "afterKey": b"", "chunk": 2},
    )
    start = len(log.records)
    log.append(proc.partition_key(0), legacy)
    asyncio.run(read(log, proc, start, stored=1))
    successor = codec.decode_as(log.records[start + 1].value, "DispatchResume")
    assert (successor["chainId"], successor["step"]) == ("old-writer-1", 1)
    log.append(proc.partition_key(0), legacy)  # read again (not committed at a crash)
    asyncio.run(read(log, proc, start + 1))
    assert log.resumes() == 14 // 2 + 1 + 1  # the chain's links and the copy, dropped
    assert len(log.feed("late")) == 14 and not _cursors(log)


def test_two_copies_of_a_link_in_one_batch_run_once(geography: Any, codec: Any) -> None:
    """A link and its copy (written again by a replay, or passed on twice) in one batch:
    the first runs and moves its chain on, the second is dropped."""
    log, proc = _stocked(codec, geography, 7)
    start = log.control("late", LATE)
    asyncio.run(read(log, proc, start, size=lambda: 1, stored=1))
    link0 = log.records[start + 1]
    assert link0.value is not None
    log.append(link0.key, link0.value)
    asyncio.run(read(log, proc, start + 1, size=lambda: 2))
    assert log.resumes() == 1 + 1 + 3  # link 0, its copy, links 1..3 (7 entries, chunk 2)
    assert len(log.feed("late")) == 7 and not _cursors(log)


def test_a_forged_chain_id_is_dead_lettered(geography: Any, codec: Any) -> None:
    log, proc = _stocked(codec, geography, 3)
    for chain, step in (("x" * 65, 0), ("c", -1)):
        forged = codec.encode("DispatchResume", {
            "resumeId": "f", "partition": 0, "moves": _MOVES, "afterKey": b"", "chunk": 2,
            "chainId": chain, "step": step})  # fmt: skip
        log.append(proc.partition_key(0), forged)
    stats = asyncio.run(proc.process(log.records[-2:]))
    assert stats.dead_letter_reasons == {"bad_resume": 2}


def test_a_control_replayed_before_its_batch_was_stored_starts_one_chain(
        geography: Any, codec: Any) -> None:  # fmt: skip
    """The control's batch sent (its link 0 in the topic) and never stored: the control,
    read again, begins another chain; the first one's link 0 finds no cursor and is
    dropped, so the territory is gone through once."""
    log, first = _stocked(codec, geography, len(COMMUNES) * 3)
    start = log.control("late", LATE)
    asyncio.run(read(log, first, start, stored=0, sent=1))
    second = _worker(log, geography, TerritoryIndex(geography, first.index.actors()))
    handed, _ = asyncio.run(read(log, second, start))
    links = len(COMMUNES) * 3 // 2 + 1  # a chunk of 2 entries each, the last one short
    assert handed == 1 + 1 + links, handed  # the control, the orphan, one chain
    assert len(deduped(log.feed("late"))) == len(COMMUNES) * 3


def test_a_link_decides_on_replay_what_it_decided_the_first_time(geography: Any,
                                                                  codec: Any) -> None:  # fmt: skip
    """Two chains; the first worker reads both chains' links in one batch, then decides a
    MOD of a demand one of those links copies (v2 to the actor), and dies before storing.
    The replay cuts its batches otherwise. Until session 21 the first batch's budget
    passed the second link on whole, and the replay ran it at its own position, before the
    MOD's replay: the stored v1 copied after the v2 already delivered (docs/reliability.md,
    "a link passed on whole ran earlier on replay"; CI failed on it in
    tests/faults/test_redispatch_kill9.py). Now every link runs at its position, its share
    of its chunk: the replay decides what the first run did."""
    log, proc = _stocked(codec, geography, 7)
    num = log.records[1].key
    assert num is not None and log.records[1].value is not None
    start = log.control("late", ActorFilters(communes=[COMMUNES[3]]))
    log.control("other", ActorFilters(communes=[COMMUNES[0]]))  # the first demand's

    async def submit(*positions: int) -> Any:
        seen = len(log.sender.sent.get(topics.DEMANDES, []))
        sub = await proc.submit([log.records[p] for p in positions])
        for key, value in log.sender.sent.get(topics.DEMANDES, [])[seen:]:
            log.append(key, value)
        return sub

    async def first_worker() -> None:
        await proc.settle(await submit(start))  # late: its link 0
        await proc.settle(await submit(start + 1))  # other: its link 0
        log.event(demande_event(num.decode(), [COMMUNES[0]], operation="MOD"))
        await submit(start + 2, start + 3)  # late's link runs, other's is passed on
        await submit(start + 4)  # the MOD: v2 to other; then the crash

    proc.redispatch_chunk = 1
    asyncio.run(first_worker())
    second = _worker(log, geography, TerritoryIndex(geography, proc.index.actors()), chunk=1)
    asyncio.run(read(log, second, start + 2))
    versions = [v for _, kind, v in deduped([r for r in log.feed("other")
                                             if r["numUnique"] == num.decode()])]  # fmt: skip
    assert versions == sorted(versions), versions


class _Ledger:
    """A partition's raw keys, as a batch shows them (chains.Ledger)."""

    def __init__(self) -> None:
        self.raw: dict[bytes, bytes] = {}
        self.links: list[tuple[int, chains.Link]] = []

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.raw.get(key)

    def put_raw(self, key: bytes, partition: int, value: bytes | None) -> None:
        if value is None:
            self.raw.pop(key, None)
        else:
            self.raw[key] = value

    def resume_later(self, partition: int, moves: str, after: bytes, chunk: int,
                     link: chains.Link) -> None:  # fmt: skip
        self.links.append((chunk, link))


def test_a_link_examines_at_least_min_share_entries_however_many_chains() -> None:
    """Independent audit O, O4: with more chains in a partition than the chunk, a share of
    ``chunk // chains`` fell to one entry per link, so every index entry cost a
    DispatchResume record (217,152 records for 150 actors over 1,000 demands, 16,823
    before). The share has a floor (never above the chunk itself), and the count follows
    the chains begun and ended."""
    ledger = _Ledger()
    for _ in range(200):
        chains.begin(ledger, 0, "[]", 125)
    shares = [chunk for chunk, _ in ledger.links]
    assert shares[:5] == [125, 62, 41, 32, 32] and min(shares) == chains.MIN_SHARE
    assert chains.active(ledger, 0) == 200
    for _, link in ledger.links:
        chains.finish(ledger, 0, link)
    assert chains.active(ledger, 0) == 0 and not ledger.raw  # nothing left in the state
    small = _Ledger()
    for _ in range(3):
        chains.begin(small, 0, "[]", 5)  # a chunk below the floor: the chunk itself
    assert [chunk for chunk, _ in small.links] == [5, 5, 5]
