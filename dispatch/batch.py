"""One dispatch batch's working set, and the view an actor change works through.

A :class:`Batch` holds what :meth:`dispatch.processor.Processor.submit` builds for one
batch — outputs, new states (the overlay), their stored index entries (bases), other
writes — and implements :class:`dispatch.redispatch.Context` over it and the processor's
unsettled batches, so a re-dispatch sees the states and index entries as the batches not
stored yet leave them.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatch import territory
from dispatch.sending import Output
from hub.core import topics
from hub.domain.decisions import Decision
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState

if TYPE_CHECKING:
    from dispatch.processor import BatchStats, Processor


#: an index entry's value when it is not known whether the entry is stored: never equal
#: to a real value (``b"<rank>|..."``), so the entry is written or deleted either way
UNKNOWN = b""


@dataclass(slots=True, eq=False)
class Batch:
    """One batch's working set, and the view a re-dispatch works through
    (:class:`dispatch.redispatch.Context`)."""

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
    #: index entries a re-dispatch may still examine in this batch, all partitions
    #: together (dispatch.redispatch): one batch's worth of work, however many chains
    redispatch_budget: int = 0
    #: monotonic time after which a re-dispatch stops at its next step (the slice)
    redispatch_until: float = float("inf")

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
        """What is stored, as the writes of the batches not stored yet leave it."""
        found = dict(self.proc.store.scan_from(partition, prefixes, after, limit))
        for raw in [*(sub.raw for sub in self.proc._unsettled), self.raw]:
            for key, p, value in raw:
                if p == partition and key > after and _under(key, prefixes):
                    if value is None:
                        found.pop(key, None)
                    else:
                        found[key] = value
        return sorted(found.items())[:limit]

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.redispatch_until

    def resume_later(self, partition: int, moves: str, after: bytes) -> None:
        value = self.proc.codec.encode("DispatchResume", {
            "resumeId": str(uuid.uuid4()), "partition": partition, "moves": moves,
            "afterKey": after})  # fmt: skip
        self.outputs.append((topics.DEMANDES, self.proc.partition_key(partition), value))

    def keys(self, partition: int) -> Iterable[bytes]:
        return self.proc.store.keys_of_partition(partition)

    def put_raw(self, key: bytes, partition: int, value: bytes | None) -> None:
        self.raw.append((key, partition, value))


def _under(key: bytes, prefixes: Sequence[bytes]) -> bool:
    """Whether index key ``key`` is under one of ``prefixes`` (sorted): by bisection."""
    prefix = key[: key.rfind(b"\x00") + 1]
    i = bisect.bisect_left(prefixes, prefix)
    return i < len(prefixes) and prefixes[i] == prefix
