"""One dispatch batch's working set, and the view an actor change works through.

A :class:`Batch` holds what :meth:`dispatch.processor.Processor.submit` builds for one
batch — outputs, new states (the overlay), their stored index entries (bases), other
writes — and implements :class:`dispatch.changes.Context` over it and the processor's
unsettled batches, so a re-dispatch sees the states and index entries as the batches not
stored yet leave them.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatch import territory
from dispatch.chains import Link
from dispatch.known_letters import Identity
from dispatch.sending import Output
from hub.core import topics
from hub.domain.decisions import Decision
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState

if TYPE_CHECKING:
    from dispatch.processor import BatchStats, Processor, Submitted


#: an index entry's value when it is not known whether the entry is stored: never equal
#: to a real value (``b"<rank>|..."``), so the entry is written or deleted either way
UNKNOWN = b""


@dataclass(slots=True, eq=False)
class Batch:
    """One batch's working set, and the view a re-dispatch works through
    (:class:`dispatch.changes.Context`)."""

    proc: Processor
    stats: BatchStats
    outputs: list[Output]
    overlay: dict[bytes, tuple[int, DemandeState | None]]
    now_ms: int
    bases: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    raw: list[tuple[bytes, int, bytes | None]] = field(default_factory=list)
    #: writes stored before the states (dispatch.deadlines: the upgrade pass)
    pre: list[tuple[bytes, int, bytes | None]] = field(default_factory=list)
    #: partitions found without a complete index in this batch (no lookup again)
    unindexed: set[int] = field(default_factory=set)
    #: each overlay state's territorial index entries, by key: (the state, its entries)
    entry_memo: dict[bytes, tuple[DemandeState | None, dict[bytes, bytes]]] = field(
        default_factory=dict
    )
    #: identities of the dead letters among ``outputs`` (dispatch.known_letters)
    letters: list[Identity] = field(default_factory=list)

    @property
    def index(self) -> TerritoryIndex:
        return self.proc.index

    def state(self, key: bytes, partition: int) -> DemandeState | None:
        return self.proc._state(key, self.overlay, partition)

    def _indexed(self, partition: int) -> bool:
        # a partition's marker appears only with a control (which marks it at once): one
        # store lookup per batch and partition, not one per demand written
        if partition in self.proc._indexed:
            return True
        if partition in self.unindexed:
            return False
        if self.proc._indexed_partition(partition):
            return True
        self.unindexed.add(partition)
        return False

    def write(self, key: bytes, partition: int, state: DemandeState | None,
              prior: DemandeState | None) -> None:  # fmt: skip
        if key not in self.bases:  # what is stored for it now: the prior's entries
            indexed = self._indexed(partition) or any(
                key in sub.overlay for sub in self.proc._unsettled
            )
            base = territory.entries(prior, self.proc.index)
            if not indexed:
                # the prior's entries may or may not be stored (states written before
                # the index existed have none): delete them all and write every entry
                # of the new state, so no entry survives under a commune no longer
                # wished (it would hide a change from a later re-dispatch)
                base = dict.fromkeys(base, UNKNOWN)
            # the due entries (dispatch.deadlines) are taken as stored: states stored
            # before them get theirs from the partition's upgrade pass, and a tick checks
            # every entry against its state
            self.bases[key] = base | self.proc.deadlines.entries(prior, self.index.geography)
        self.overlay[key] = (partition, state)

    def emit(self, decision: Decision, state: DemandeState, event_id: str, operation: str,
             occurred_at: int) -> None:  # fmt: skip
        self.proc._emit(self, decision, state, event_id, operation, occurred_at, [])

    def pending(self, partition: int) -> dict[bytes, DemandeState | None]:
        out: dict[bytes, DemandeState | None] = {}
        for overlay in [*(sub.overlay for sub in self.proc._unsettled), self.overlay]:
            out.update((k, st) for k, (p, st) in overlay.items() if p == partition)
        return out

    def get(self, key: bytes, partition: int) -> bytes | None:
        for key_, partition_, value in reversed(self.raw):
            if key_ == key and partition_ == partition:
                return value
        for sub in reversed(self.proc._unsettled):
            for key_, partition_, value in reversed(sub.raw):
                if key_ == key and partition_ == partition:
                    return value
        return self.proc.store.get(key, partition)

    def scan_from(
        self, partition: int, prefixes: Sequence[bytes], after: bytes, limit: int
    ) -> Iterable[tuple[bytes, bytes]]:
        """The index as every state decided so far leaves it: what is stored, then each
        unsettled batch's writes and this one's, the index entries of their states
        included. So a re-dispatch chunk is the same whether the states before it were
        stored or not (a replay after a crash stores at other points: dispatch.redispatch)."""
        view = self._index_view(partition, prefixes, after)
        # a stored entry the view deletes must not shorten the page
        deleted = sum(1 for value in view.values() if value is None)
        found = dict(self.proc.store.scan_from(partition, prefixes, after, limit + deleted))
        for key, value in view.items():
            if value is None:
                found.pop(key, None)
            else:
                found[key] = value
        return sorted(found.items())[:limit]

    def _index_view(self, partition: int, prefixes: Sequence[bytes],
                    after: bytes) -> dict[bytes, bytes | None]:  # fmt: skip
        """The unstored writes under ``prefixes`` after ``after``, in the order
        :meth:`dispatch.processor.Processor._store` applies them (None: deleted)."""
        view: dict[bytes, bytes | None] = {}

        def put(key: bytes, value: bytes | None) -> None:
            if key > after and _under(key, prefixes):
                view[key] = value

        subs: list[Batch | Submitted] = [*self.proc._unsettled, self]
        for sub in subs:
            for key, p, value in sub.pre:
                if p == partition:
                    put(key, value)
            for key, (p, state) in sub.overlay.items():
                if p != partition:
                    continue
                new = memo_entries(sub.entry_memo, key, state, self.proc.index)
                for k in sub.bases.get(key, {}):
                    if k not in new:
                        put(k, None)
                for k, v in new.items():
                    put(k, v)
            for key, p, value in sub.raw:
                if p == partition:
                    put(key, value)
        return view

    def resume_later(self, partition: int, moves: str, after: bytes, chunk: int,
                     link: Link) -> None:  # fmt: skip
        value = self.proc.codec.encode("DispatchResume", {
            "resumeId": str(uuid.uuid4()), "partition": partition, "moves": moves,
            "afterKey": after, "chunk": chunk, "chainId": link.chain,
            "step": link.step})  # fmt: skip
        self.outputs.append((topics.DEMANDES, self.proc.partition_key(partition), value))

    def keys(self, partition: int) -> Iterable[bytes]:
        return self.proc.store.keys_of_partition(partition)

    def put_raw(self, key: bytes, partition: int, value: bytes | None) -> None:
        self.raw.append((key, partition, value))

    def put_early(self, key: bytes, partition: int, value: bytes | None) -> None:
        self.pre.append((key, partition, value))


def memo_entries(memo: dict[bytes, tuple[DemandeState | None, dict[bytes, bytes]]],
                 key: bytes, state: DemandeState | None,
                 index: TerritoryIndex) -> dict[bytes, bytes]:  # fmt: skip
    """``state``'s territorial index entries, computed once per state (``memo``: a batch's,
    by key): a re-dispatch's view and the batch's store both need them."""
    hit = memo.get(key)
    if hit is not None and hit[0] is state:
        return hit[1]
    entries = territory.entries(state, index)
    memo[key] = (state, entries)
    return entries


def _under(key: bytes, prefixes: Sequence[bytes]) -> bool:
    """Whether index key ``key`` is under one of ``prefixes`` (sorted): by bisection."""
    prefix = key[: key.rfind(b"\x00") + 1]
    i = bisect.bisect_left(prefixes, prefix)
    return i < len(prefixes) and prefixes[i] == prefix
