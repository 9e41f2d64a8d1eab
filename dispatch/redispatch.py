"""Actor changes applied to a partition's stored demands at the cost of what they deliver.

A ``DispatchControl`` (an actor added, changed or removed) reaches every partition of
``hub.demandes`` at its point of the stream. The partition must send the actor a copy
(``COPIE``) of each active demand it now wants and did not have, and a withdrawal
(``RETRAIT``) of each it had and no longer wants — a removed actor wants none, so it is
withdrawn everything it held. A changed **profile** owes the actor a ``COPIE``
(``profil_modifie``) of every demand it holds, cut to the new profile (the one it holds
was cut to the old one). Which demands? Only those wishing a commune of the actor's old
or new territory, found through the territorial index kept with the state
(:mod:`dispatch.territory`), never a scan of the stock:

1. the partition keeps, beside its states, the filters and profile it last applied for
   each actor (:mod:`dispatch.moves`, in the changelog like the states): the **old**
   territory and profile;
2. the index entries under the old and new territories' commune keys give the
   candidates, each with its ranks and typologies;
3. a candidate whose answer is the same under both filters is left alone, unread (unless
   the profile changed and the actor wants it); the others (the copies and withdrawals
   due) are read and decided by :func:`hub.domain.decisions.reevaluate`, the one rule of
   record.

So the cost is a scan of index entries of the two territories (a few µs each) plus one
state read per copy or withdrawal (per demand of the territory, for a profile change).
Consecutive controls of a partition (a bulk import) are applied in one pass. A
registration whose filters and profile equal the applied ones costs no read at all.
Each record carries the event id :func:`hub.domain.decisions.change_event_id` gives it:
an actor may be owed the same demand version twice (removed, then registered again).

**Bounded work per record.** A control only updates the index and the filters applied;
its copies and withdrawals go through a ``DispatchResume`` record it writes to the same
partition of ``hub.demandes`` (the moves, the last key handled, and the chunk: the
``worker.redispatch_chunk`` of the worker that began the re-dispatch). Each such record,
when it comes back behind the events published meanwhile, examines the next index
entries (its chunk) and writes a record for the rest. Regular events keep
flowing, memory holds one chunk's outputs, and a crash loses nothing (the record is in
the topic, or the batch is read again). Events between two chunks are decided with the
actor's new filters (the index is updated at the control), so every demand's records
stay in order and an event after the control sees the actor as changed; a chunk reaching
a demand already brought in line by such an event finds nothing owed (``reevaluate`` is
the rule of record).

**Replay.** A worker killed after sending a batch's records and before storing its
states is replayed by the next owner from the states stored before. Every record must
then decide what it decided the first time, or more records could come after what was
already sent: a chunk that went further on replay than the first time copied a demand's
stored older version after its newer one had been delivered (docs/reliability.md). So a
chunk's extent depends on nothing but its record: a fixed number of entries (its
``chunk``), counted over the index as every state decided so far leaves it, stored or
not (:meth:`dispatch.batch.Batch.scan_from`); no time cut, and no budget of the batch (a
replay cuts its batches elsewhere). Of the copies of a link (the first run's successor,
the replay's) the first in the topic runs and the others are dropped (``Chains``): the
replay runs the first run's very record, or, if that one was never written, its own,
behind everything the first run read: work deferred, which is safe (it reads newer
states than anything already sent).

**Work per record, not per batch.** Every link runs at its position. Its chunk is the
worker's ``redispatch_chunk`` shared between the partition's chains in progress when the
link is written (:func:`dispatch.chains.share`). A chain has one link in the topic at a
time, so a regular event waits for about one chunk of re-dispatch per partition ahead of
it (a few chunks at most while chains begin: each new link 0 takes its share then), and
chains of small territories share it — up to ``chunk / chains.MIN_SHARE`` chains; beyond,
each link still examines ``MIN_SHARE`` entries (a record per entry would cost more than
the wait it saves: independent audit O, O4). (Until session
21 a batch had one budget, all partitions together, with a time slice, and passed the
links beyond it on whole: whether a link ran then depended on what else its batch held,
and a link passed on the first time could run at its own position on replay, ahead of a
demand event behind it whose newer version the first worker had already delivered:
``COPIE`` v1 after ``DEMANDE`` v2,
``test_a_link_decides_on_replay_what_it_decided_the_first_time``.)

**Chains.** A record read again after a crash would write its successor again, and each
copy would run to the end of the territories: N links replayed, N more chains (quadratic
work; docs/reliability.md). So each chain's progress is kept in the partition's state,
written with the batch like the other writes (:mod:`dispatch.chains`): a link runs only
if it is the one its chain's cursor names; a copy of a link already run is dropped, and a
chain that ends removes its cursor.

**Upgrade.** A partition whose index was never completed is brought in line once by a
full pass first (:mod:`dispatch.upgrade`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dispatch import chains, territory, upgrade
from dispatch.changes import Change, Context
from dispatch.moves import (
    Move,
    applied_key,
    decode_applied,
    decode_moves,
    encode_applied,
    encode_moves,
    is_move,
)
from hub.domain.actors import ActorFilters
from hub.domain.decisions import COPIE, Decision, Delivery, change_event_id, reevaluate
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState

log = logging.getLogger(__name__)


def apply(ctx: Context, partition: int, changes: Sequence[Change], chunk: int) -> Pass:
    """Apply ``changes`` (in stream order) to ``partition``: the actor index and the
    filters and profile applied now, the copies and withdrawals (and a changed profile's
    copies: :func:`~dispatch.moves.is_move`) through a ``DispatchResume`` record (from the
    start of the territories, ``chunk`` index entries per record: module doc, "Replay").
    Only a partition's one-time upgrade pass reads states here."""
    index = ctx.index
    if not territory.indexed(ctx.get(territory.marker(partition), partition), index.geography):
        return _upgrade(ctx, partition, changes)
    moves: list[Move] = []
    for ch in changes:
        raw = ctx.get(applied_key(ch.actor_id, partition), partition)
        version, old, old_profile = decode_applied(raw)
        if ch.version < version:
            continue  # an older registration than the one this partition applied
        _apply_to_index(index, ch)
        new = None if ch.actor is None else ch.actor.filters
        profile = None if ch.actor is None else ch.actor.profile
        applied = encode_applied(ch.version, new, profile)
        ctx.put_raw(applied_key(ch.actor_id, partition), partition, applied)
        owes, recut = is_move(old, new, old_profile, profile)
        if owes:
            moves.append((ch.actor_id, old, new, ch.version, recut))
    if moves:
        chains.begin(ctx, partition, encode_moves(moves), chunk)
    return Pass(0, 0)


def _upgrade(ctx: Context, partition: int, changes: Sequence[Change]) -> Pass:
    """``changes`` on a partition not indexed (for this geography): applied to the index,
    then the one-time full pass, which copies and withdraws what the index now matches
    and recuts the demands of the actors whose profile these changes changed; an actor
    these changes removed has its filters recorded as none (review Q, F2: they stayed the
    former ones, so the same registration later was "unchanged" and copied nothing)."""
    index = ctx.index
    recut: set[str] = set()
    for ch in changes:
        version, old, old_profile = decode_applied(ctx.get(applied_key(ch.actor_id, partition),
                                                           partition))  # fmt: skip
        _apply_to_index(index, ch)
        if ch.version < version or ch.actor is None:
            continue
        if is_move(old, ch.actor.filters, old_profile, ch.actor.profile)[1]:
            recut.add(ch.actor_id)
    read = upgrade.full_pass(ctx, partition, frozenset(recut))
    for ch in changes:
        if ch.actor is None and ch.actor_id not in index:
            version, _, _ = decode_applied(ctx.get(applied_key(ch.actor_id, partition),
                                                   partition))  # fmt: skip
            if ch.version >= version:
                ctx.put_raw(applied_key(ch.actor_id, partition), partition,
                            encode_applied(ch.version, None, None))  # fmt: skip
    return Pass(read, 0)


def resume(ctx: Context, partition: int, moves_json: str, after: bytes, chunk: int,
           link: chains.Link, base: int) -> Pass:  # fmt: skip
    """Continue a re-dispatch (a ``DispatchResume`` record, ``link`` of its chain): the
    next ``chunk`` index entries after ``after`` (the record's), and a record for the
    rest, with its share of ``base`` (the worker's chunk: :func:`dispatch.chains.share`).
    A link that is not its chain's next (a copy read again after a crash: module doc,
    "Chains") is dropped: no work, nothing written."""
    plan = _plan(ctx.index, moves_json)  # a malformed record fails here: dead-lettered
    if not chains.admit(ctx, partition, link):
        return Pass(0, 0)
    return _chunk(ctx, partition, plan, after, chunk, link, base)


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass or chunk cost: stored states read, index entries examined."""

    read: int
    examined: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A pass's moves, ready to apply: each with its old and new commune keys, the scan
    prefixes (sorted), and, per commune key, the moves concerned (indices, in order);
    ``changes``: per move, the registration's version (None: unknown) and whether its
    profile changed."""

    json: str
    keyed: list[tuple[str, ActorFilters | None, ActorFilters | None, frozenset[str],
                      frozenset[str]]]  # fmt: skip
    prefixes: list[bytes]
    by_key: dict[str, tuple[int, ...]]
    changes: tuple[tuple[int | None, bool], ...] = ()


#: plans of the chains in progress, by geography and moves, least recently used first: a
#: national actor's territory holds ~35,000 commune keys, too many to expand and sort again
#: at every chunk. Bounded by the scan prefixes they hold, not by their number: a bulk
#: import runs a chain per batch and partition (~64 for 2,000 offices arriving over 16
#: batches), visited in turn, and a cache smaller than that missed at every chunk (a
#: tenth of the worker's time in that import, docs/performance.md)
_PLANS: OrderedDict[tuple[Any, str], Plan] = OrderedDict()
#: ~11 national plans' worth (~60 MB with their commune maps); the newest is kept whatever its size
PLANS_BUDGET = 400_000


def _plan(index: TerritoryIndex, moves_json: str) -> Plan:
    geo = index.geography
    # the geography itself in the key (an id could be reused by another one)
    cached = _PLANS.get((geo, moves_json))
    if cached is not None:
        _PLANS.move_to_end((geo, moves_json))
        return cached
    moves = decode_moves(moves_json)
    keyed = [(a, old, new, territory.actor_keys(old, geo), territory.actor_keys(new, geo))
             for a, old, new, *_ in moves]  # fmt: skip
    by_key: dict[str, list[int]] = {}
    for i, (*_, ko, kn) in enumerate(keyed):
        for c in ko | kn:
            by_key.setdefault(c, []).append(i)
    plan = Plan(moves_json, keyed, sorted(territory.scan_prefix(c) for c in by_key),
                {c: tuple(ix) for c, ix in by_key.items()},
                tuple((version, recut) for *_, version, recut in moves))  # fmt: skip
    _PLANS[(geo, moves_json)] = plan
    held = sum(len(p.prefixes) for p in _PLANS.values())
    while held > PLANS_BUDGET and len(_PLANS) > 1:
        held -= len(_PLANS.popitem(last=False)[1].prefixes)
    return plan


def _chunk(ctx: Context, partition: int, plan: Plan, after: bytes, chunk: int,
           link: chains.Link, base: int) -> Pass:  # fmt: skip
    """The next ``chunk`` index entries of the moves' territories after ``after``, in key
    order (commune key, then numéro), as every state decided so far leaves the index; a
    record for the rest (with its share of ``base``) if the territories go on. Its extent
    depends on nothing but the record and the states before it (module doc, "Replay"). A
    demand wishing several
    communes of the territories may be looked at once per commune: only an extra read,
    never a missed change (a change owed has a hit that alone tells it apart)."""
    entries = list(ctx.scan_from(partition, plan.prefixes, after, chunk))
    found: dict[str, list[territory.Hit]] = {}
    for k, v in entries:
        num, hit, siblings = territory.parse_all(k, v)
        if siblings is None:  # an entry without its siblings: decided on what it holds
            found.setdefault(num, []).append(hit)
            continue
        # the demand's hits in the moves' territories: decided whole at the first of them
        # in key order (scanned before the others, in this chunk or an earlier one)
        mine = [h for h in siblings if h.commune_key in plan.by_key]
        if mine and hit.commune_key == min(h.commune_key for h in mine):
            found[num] = mine
    read = _decide(ctx, partition, plan, found)
    if len(entries) >= chunk:  # more may follow: a later record
        log.debug("re-dispatch of partition %d continues after %d index entries "
                  "(%d states read)", partition, len(entries), read)  # fmt: skip
        successor = chains.advance(ctx, partition, link)
        size = chains.share(ctx, partition, base)
        ctx.resume_later(partition, plan.json, entries[-1][0], size, successor)
    else:  # the end of the territories: the chain leaves nothing in the state
        chains.finish(ctx, partition, link)
    return Pass(read, len(entries))


def _decide(ctx: Context, partition: int, plan: Plan,
            found: dict[str, list[territory.Hit]]) -> int:  # fmt: skip
    read = 0
    keyed, by_key = plan.keyed, plan.by_key
    for num in sorted(found):
        hits = found[num]
        key = num.encode()
        state: DemandeState | None = None
        # only the moves whose territories hold one of the hits can answer differently
        concerned = sorted({i for h in hits for i in by_key.get(h.commune_key, ())})
        before: DemandeState | None = None
        owed: list[tuple[Decision, int | None]] = []
        for i in concerned:
            actor_id, old, new, ko, kn = keyed[i]
            version, recut = plan.changes[i] if plan.changes else (None, False)
            wanted = territory.wants(new, kn, hits)
            if territory.wants(old, ko, hits) == wanted and not (recut and wanted):
                continue  # same answer before and after: nothing owed, nothing read
            if state is None:
                state = before = ctx.state(key, partition)
                read += 1
            if state is None or not state.active:
                break
            decision = reevaluate(state, actor_id, ctx.index, recut=recut)
            if decision is not None and decision.state is not None:
                owed.append((decision, version))
                state = decision.state
        if owed and state is not None and before is not None:
            _send_all(ctx, owed, before, state)
            ctx.write(key, partition, state, before)
    return read


def _send_all(ctx: Context, owed: list[tuple[Decision, int | None]], before: DemandeState,
              after: DemandeState) -> None:  # fmt: skip
    """The records of a demand's decisions for the actors of one pass (each with the
    version of the registration that owes it), as one state change: consecutive deliveries
    of a kind and event id sent together (encoded once per profile), in the decisions'
    order (one actor changed twice in a pass may be withdrawn, then copied again), and the
    state written once (by the caller). Event ids: :func:`~hub.domain.decisions.change_event_id`."""
    groups: list[tuple[str, list[Delivery]]] = []
    for dec, version in owed:
        for d in dec.deliveries:
            eid = change_event_id(before.last_event_id, d.actor_id, version)
            last = groups[-1] if groups else ("", [d])
            if last[0] == eid and (last[1][0].kind == COPIE) == (d.kind == COPIE):
                last[1].append(d)
            else:
                groups.append((eid, [d]))
    for eid, deliveries in groups:
        upgrade.send(ctx, Decision(state=after, deliveries=deliveries), before, eid)


def _apply_to_index(index: TerritoryIndex, ch: Change) -> None:
    if ch.actor is not None:
        index.upsert(ch.actor)
        return
    index.delete(ch.actor_id, ch.version)
