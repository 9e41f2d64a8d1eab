"""Each re-dispatch chain's progress, kept in the partition's state: a ``DispatchResume``
read again after a crash does not start another copy of its chain.

A *chain* is the sequence of ``DispatchResume`` records (its *links*) that carries one
pass's moves through a partition (:mod:`dispatch.redispatch`). Each link names its chain
(``chainId``, drawn when the chain begins) and its place in it (``step``: 0 for the link
a control writes, then 1, 2…). Beside the states, the partition keeps the chain's
*cursor*, ``\\x00r:<partition>:<chain id>`` → the step of the one link still to run. The
cursor is one of the batch's other writes (``put_raw``): stored after the batch's states
and only once the batch's outputs, the link it names included, are acknowledged. So a
stored cursor always names a link that is in the topic, and it is stored exactly when the
work of the links before it is.

* :func:`begin`: a control's pass writes link 0 and cursor 0;
* :func:`admit`: a link runs only if its step is its chain's cursor; any other is
  **dropped**: a link read again after the batch where it ran was stored (its offset not
  committed yet), the copy of a successor that a replay wrote again, or a link of a
  control whose batch was never stored (the control, replayed, began another chain). Its
  work is done, or will be done by the copy the cursor names, at a position in the
  partition no earlier than its own;
* :func:`advance`: a link that ran and leaves entries for later writes link step + 1
  and moves the cursor to it; :func:`finish`: at the end of the territories the cursor is
  removed, so a finished chain leaves nothing in the state (a copy read afterwards finds
  no cursor: dropped).

So after a crash every replayed link costs one input at most, and the chain goes on once.
A link of an older writer (no ``chainId``) is taken as step 0 of a chain named by its
``resumeId``, with no cursor yet: it runs as before, and its successor carries the cursor
from then on (read again once that chain has ended, it would run once more: only across
the upgrade).

The partition also counts its chains in progress (``\\x00rn:<partition>``, written with
the cursors, removed at zero): each link written gets the worker's chunk shared between
them (:func:`share`), so the re-dispatch work between two regular events of a partition
stays about one chunk however many chains are queued. The share is fixed in the record
when it is written: a link's extent is its record's, and of the copies of a link the one
that runs is the first in the topic (the cursor drops the others), so a replay runs the
very record the first run did, or a later one (deferred work: dispatch/redispatch.py,
"Replay").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hub.core.errors import InputError

log = logging.getLogger(__name__)

#: prefix of the per-partition chain cursors
CURSOR = b"\x00r:"
#: the per-partition count of chains in progress (not under CURSOR: a chain id is free text)
COUNT = b"\x00rn:"
#: longest chain id accepted (the hub's are UUIDs): a forged one must not bloat the state
MAX_ID = 64


@dataclass(frozen=True, slots=True)
class Link:
    """One ``DispatchResume``'s place: its chain, its step; ``legacy`` for a record of an
    older writer (no ``chainId``: the chain is named after its ``resumeId``)."""

    chain: str
    step: int
    legacy: bool = False


class Ledger(Protocol):
    """The part of :class:`dispatch.changes.Context` a chain's bookkeeping uses."""

    def get(self, key: bytes, partition: int) -> bytes | None: ...
    def put_raw(self, key: bytes, partition: int, value: bytes | None) -> None: ...
    def resume_later(self, partition: int, moves: str, after: bytes, chunk: int,
                     link: Link) -> None: ...  # fmt: skip


def link_of(record: Mapping[str, Any]) -> Link:
    """The link a decoded ``DispatchResume`` is (InputError ``bad_resume`` if its chain id
    is too long or its step negative: a forged record, dead-lettered)."""
    chain, step = str(record.get("chainId") or ""), int(record.get("step") or 0)
    link = Link(chain, step) if chain else Link(str(record["resumeId"]), 0, legacy=True)
    if not link.chain or len(link.chain) > MAX_ID or step < 0:
        raise InputError("malformed re-dispatch link (chain id or step)", code="bad_resume")
    return link


def _key(partition: int, chain: str) -> bytes:
    # the partition in the key too: the memory store keeps every partition in one dict
    return CURSOR + b"%d:" % partition + chain.encode()


def _set(ctx: Ledger, partition: int, chain: str, step: int | None) -> None:
    """Write (``step``) or remove (None) ``chain``'s cursor, keeping the count in line."""
    key = _key(partition, chain)
    had = ctx.get(key, partition) is not None
    ctx.put_raw(key, partition, None if step is None else b"%d" % step)
    if had == (step is not None):
        return
    count = active(ctx, partition) + (1 if step is not None else -1)
    # below one: cursors written before the count existed (an upgrade) end uncounted
    ctx.put_raw(COUNT + b"%d" % partition, partition, b"%d" % count if count > 0 else None)


def active(ctx: Ledger, partition: int) -> int:
    """The chains in progress in ``partition`` (as the records before this one leave it)."""
    raw = ctx.get(COUNT + b"%d" % partition, partition)
    return int(raw) if raw else 0


#: the least a link examines, however many chains share the partition (never more than
#: the chunk): below it a link would cost a DispatchResume record for a few entries (one
#: each with 125 chains: independent audit O, O4)
MIN_SHARE = 32


def share(ctx: Ledger, partition: int, chunk: int) -> int:
    """The chunk to write in a new link of ``partition``: the worker's ``chunk`` shared
    between the chains in progress, at least :data:`MIN_SHARE` entries (or the chunk if
    smaller): with more chains than ``chunk / MIN_SHARE`` a regular event waits behind
    ``chains × MIN_SHARE`` entries rather than one chunk, and each record stays worth
    its round trip."""
    return max(min(chunk, MIN_SHARE), chunk // max(1, active(ctx, partition)))


def begin(ctx: Ledger, partition: int, moves: str, chunk: int) -> None:
    """Start a chain over ``moves``: link 0 (from the start of the territories, with its
    :func:`share` of ``chunk``) and its cursor, with the batch."""
    link = Link(str(uuid.uuid4()), 0)
    _set(ctx, partition, link.chain, 0)
    ctx.resume_later(partition, moves, b"", share(ctx, partition, chunk), link)


def admit(ctx: Ledger, partition: int, link: Link) -> bool:
    """Whether ``link`` is its chain's next (module doc); False: drop it."""
    raw = ctx.get(_key(partition, link.chain), partition)
    if raw is None and link.legacy:
        return True
    if raw is not None and int(raw) == link.step:
        return True
    log.info("re-dispatch link %d of chain %s in partition %d dropped: its chain is %s "
             "(a copy read again after a crash)", link.step, link.chain, partition,
             "over" if raw is None else f"at link {int(raw)}")  # fmt: skip
    return False


def advance(ctx: Ledger, partition: int, link: Link) -> Link:
    """The successor of ``link``, which ran: the cursor moves to it, with the batch."""
    successor = Link(link.chain, link.step + 1)
    _set(ctx, partition, link.chain, successor.step)
    return successor


def finish(ctx: Ledger, partition: int, link: Link) -> None:
    """``link`` ran to the end of the territories: its chain's cursor is removed."""
    _set(ctx, partition, link.chain, None)
