"""The one-time upgrade pass of a partition whose territorial index was never completed,
and the rule that brings one demand's recipients in line with the actors' filters.

A partition whose index was never completed (no
:data:`dispatch.territory.MARKER`: states written before the index existed) is brought
in line once by a full pass: every active demand is matched against every registered
actor, copies and withdrawals sent where its recipients differ, its index entries
written, and the filters of every registered actor recorded as applied. Afterwards the
states agree with the index, whatever controls are still ahead in the stream. Until then,
a state written on such a partition deletes every entry its prior would have and writes
all of its own (:data:`dispatch.batch.UNKNOWN`): whether the prior's are stored is not
known, and an entry left under a commune no longer wished would answer for the actor's
old territory and hide a change from a later re-dispatch.
"""

from __future__ import annotations

from dispatch import territory
from dispatch.changes import Context
from dispatch.moves import applied_key, encode_applied
from hub.domain.decisions import COPIE, Decision, change_event_id, reevaluate
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState, wished_communes, wished_typologies


def _reevaluate(ctx: Context, key: bytes, partition: int, state: DemandeState,
                actor_id: str, *, recut: bool = False) -> DemandeState:  # fmt: skip
    decision = reevaluate(state, actor_id, ctx.index, recut=recut)
    if decision is None or decision.state is None:
        return state
    actor = ctx.index.actor(actor_id)  # None: removed (its version is not known here)
    eid = change_event_id(state.last_event_id, actor_id, None if actor is None else actor.version)
    send(ctx, decision, state, eid)
    ctx.write(key, partition, decision.state, state)
    return decision.state


def send(ctx: Context, decision: Decision, state: DemandeState, event_id: str) -> None:
    """Emit ``decision``'s records for ``state`` (the version they copy or withdraw) with
    ``event_id`` (:func:`~hub.domain.decisions.change_event_id`)."""
    assert decision.state is not None
    op = "COP" if any(d.kind == COPIE for d in decision.deliveries) else state.last_operation
    ctx.emit(decision, decision.state, event_id, op, state.occurred_at)


#: index entries examined per page of the pass's sweep of stale entries
SWEEP_PAGE = 10_000


def full_pass(ctx: Context, partition: int, recut: frozenset[str] = frozenset()) -> int:
    """The one-time pass of ``partition`` (module doc); returns the states read.
    ``recut``: actors whose profile changed in the controls that started the pass: every
    demand they hold and still match is copied again, cut to the new profile (review Q,
    F3: a downgrade carried by that control kept the wider copies). Every index entry the
    recomputed index does not hold is deleted (review Q, F4: an entry written under
    another geography, or an older worker's, answered for its demand again when two
    geographies alternated on the partition: a rollback, a rolling upgrade)."""
    index = ctx.index
    pending = ctx.pending(partition)
    keys = set(ctx.keys(partition)) | set(pending)
    read = 0
    keep: set[bytes] = set()
    for key in sorted(keys):
        before = ctx.state(key, partition)
        read += 1
        if before is None or not before.active:
            continue
        after = _resync(ctx, key, partition, before, index, recut)
        entries = territory.entries(after, index)
        keep.update(entries)
        if key not in pending and after is before:  # unchanged: its index entries only
            # stored *before* the batch's states, not with the raw writes (stored after
            # them): an event of this batch moving the demand elsewhere deletes them as
            # its prior's entries, and a stale entry would hide the demand from a later
            # change (it answers for the demand under its old commune)
            for k, v in entries.items():
                ctx.put_early(k, partition, v)
    _sweep(ctx, partition, keep)
    for actor in index.actors():
        ctx.put_raw(applied_key(actor.id, partition), partition,
                    encode_applied(actor.version, actor.filters, actor.profile))  # fmt: skip
    ctx.put_raw(territory.marker(partition), partition, territory.geography_id(index.geography))
    return read


def _sweep(ctx: Context, partition: int, keep: set[bytes]) -> None:
    """Delete the partition's index entries not in ``keep`` (page by page)."""
    after = b""
    while True:
        page = list(ctx.scan_from(partition, [territory.PREFIX], after, SWEEP_PAGE))
        for key, _ in page:
            if key not in keep:
                ctx.put_early(key, partition, None)
        if len(page) < SWEEP_PAGE:
            return
        after = page[-1][0]


def _resync(ctx: Context, key: bytes, partition: int, state: DemandeState,
            index: TerritoryIndex,
            recut: frozenset[str] = frozenset()) -> DemandeState:  # fmt: skip
    """Copies and withdrawals that make ``state``'s recipients those the index matches,
    and a copy cut to the new profile for each actor of ``recut`` that holds it still."""
    wanted = index.match(wished_communes(state.demande), wished_typologies(state.demande))
    kept = sorted(recut & wanted & state.recipients)
    for actor_id in sorted(wanted ^ state.recipients):
        state = _reevaluate(ctx, key, partition, state, actor_id)
    for actor_id in kept:
        state = _reevaluate(ctx, key, partition, state, actor_id, recut=True)
    return state
