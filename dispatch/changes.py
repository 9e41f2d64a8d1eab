"""What a re-dispatch is given: an actor change as a partition applies it (:class:`Change`,
decoded from a ``DispatchControl`` by :func:`change_of`) and what the processor lends the
re-dispatch of a partition (:class:`Context`: its state view and its outputs, implemented
by :class:`dispatch.batch.Batch`). The re-dispatch itself: :mod:`dispatch.redispatch`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dispatch import chains
from hub.domain.actors import Actor
from hub.domain.decisions import Decision
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState


@dataclass(frozen=True, slots=True)
class Change:
    """One control, decoded: the actor's new registration (None: removed)."""

    actor_id: str
    version: int
    actor: Actor | None


class Context(Protocol):
    """What the processor lends a re-dispatch (its state view, its outputs)."""

    @property
    def index(self) -> TerritoryIndex: ...

    def state(self, key: bytes, partition: int) -> DemandeState | None: ...
    def write(
        self, key: bytes, partition: int, state: DemandeState, prior: DemandeState | None
    ) -> None:
        """Store ``state`` (which replaces ``prior``) with the batch, index entries too."""
        ...

    def emit(self, decision: Decision, state: DemandeState, event_id: str, operation: str,
             occurred_at: int) -> None: ...  # fmt: skip
    def pending(self, partition: int) -> dict[bytes, DemandeState | None]:
        """States of ``partition`` decided but not stored yet (newest)."""
        ...

    def get(self, key: bytes, partition: int) -> bytes | None: ...
    def scan_from(
        self, partition: int, prefixes: Sequence[bytes], after: bytes, limit: int
    ) -> Iterable[tuple[bytes, bytes]]:
        """Up to ``limit`` stored (key, value) pairs of ``partition`` under ``prefixes``
        (sorted), in key order, with keys after ``after`` — as the writes of the batches
        not stored yet leave them."""
        ...

    def resume_later(self, partition: int, moves: str, after: bytes, chunk: int,
                     link: chains.Link) -> None:  # fmt: skip
        """Write a ``DispatchResume`` record (``link`` of its chain) to ``partition`` with
        this batch."""
        ...

    def keys(self, partition: int) -> Iterable[bytes]: ...
    def put_raw(self, key: bytes, partition: int, value: bytes | None) -> None: ...
    def put_early(self, key: bytes, partition: int, value: bytes | None) -> None:
        """Store ``value`` with this batch, before its states (``put_raw``: after them)."""
        ...


def change_of(control: dict[str, Any]) -> Change:
    """The change a ``DispatchControl`` record carries (InputError if malformed)."""
    reg = control["actor"]
    actor = None if reg["deleted"] else Actor.from_avro(reg)
    return Change(reg["id"], int(reg["version"]), actor)
