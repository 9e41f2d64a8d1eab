"""What one dispatch batch reports (:class:`BatchStats`) and what the processor keeps of a
batch handed to the producer until it is settled (:class:`Submitted`). Plain data of
:mod:`dispatch.processor` (which exports both)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from dispatch.known_letters import Identity
from dispatch.sending import Output
from hub.domain.state import DemandeState


@dataclass(slots=True)
class BatchStats:
    events: int = 0
    skipped: int = 0
    dead_letters: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # by kind
    #: inputs by (topic, operation): operation code, CONTROL, or UNDECODABLE
    inputs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: feed records by (actor id, kind)
    by_actor: dict[tuple[str, str], int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    #: one entry per demand event decided in the batch (not dead-lettered, not a replay
    #: already stored): its Kafka timestamp (ms, None if unknown) and its occurredAt (ms:
    #: the document's own date, e.g. an SNE file's dateFichier)
    decided: list[tuple[int | None, int]] = field(default_factory=list)
    #: inputs carrying the DLQ replay header, by input topic
    replays: dict[str, int] = field(default_factory=dict)
    #: stored states read to apply actor changes (dispatch.redispatch)
    redispatch_reads: int = 0
    #: demand states read by DispatchTick records (dispatch.deadlines): the due ones
    clock_reads: int = 0
    #: snapshots whose SNE délai anormalement long indicator disagrees with the hub's table
    delai_disagreements: int = 0
    #: gestion partagée events of unknown demands (dispatch.parking), by outcome: parked,
    #: delivered (released), unknown_demande (expired), parking_full, refused (at release)
    parked: dict[str, int] = field(default_factory=dict)
    #: events parked per partition, as counted by the batch (where it parked or released
    #: some, and at each tick)
    parked_now: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Submitted:
    """A batch handed to the producer, not yet settled (see :meth:`Processor.settle`)."""

    stats: BatchStats
    outputs: list[Output]
    acks: list[Awaitable[Any]]
    #: the batch's new demand states (None: deleted), stored once acknowledged
    overlay: dict[bytes, tuple[int, DemandeState | None]]
    #: per key of ``overlay``: the index entries stored for it before the batch
    #: (dispatch.territory), so that storing writes only the difference
    bases: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    #: other writes, stored after the states, in order: (key, partition, value or None)
    raw: list[tuple[bytes, int, bytes | None]] = field(default_factory=list)
    #: writes stored before the states (due entries of a partition's upgrade pass)
    pre: list[tuple[bytes, int, bytes | None]] = field(default_factory=list)
    #: the overlay states' index entries already computed (dispatch.batch.memo_entries)
    entry_memo: dict[bytes, tuple[DemandeState | None, dict[bytes, bytes]]] = field(
        default_factory=dict
    )
    #: identities of the dead letters among ``outputs``: known once acknowledged
    letters: list[Identity] = field(default_factory=list)
