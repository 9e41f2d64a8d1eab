"""Gestion partagée events (``hub.evenements``) fanned out to every holder of the demand.

``hub.evenements`` is keyed and partitioned like ``hub.demandes`` and read by the same
dispatch processor, in the same batches, so the worker that owns a demand's state
(``demande-state`` table) also reads its events: the holders are the state's
``recipients``. Each holder gets a ``FeedRecord`` of kind ``EVENEMENT`` (field
``evenement``; no demand snapshot) on its feed. An event of a demand the worker does not
know yet is parked until the demand's first state is stored, then delivered; one of a
deleted demand, or one parked too long, goes to ``hub.dlq`` (:mod:`dispatch.parking`).

A CAL decision rejecting the demand for irrecevabilité (``DECISCAL`` with
``DECISION=IRREC``) leads to its radiation (CCH R441-3): the worker, which holds the last
snapshot, publishes a ``RAD`` demand event (motive ``RADIRR``) to ``hub.demandes``; its
event id derives from the GP event's, so a replay produces the same radiation.
Undecodable input goes to ``hub.dlq`` like every bad input of the worker.

Plain logic: :func:`fan_out` is what one event sends for a known demand; the processor
calls it through :class:`dispatch.parking.Parking`; :func:`handle` runs one record alone.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from dispatch.feedbytes import wire
from dispatch.ports import StateStore, partition_of
from dispatch.sending import Output, Sender
from hub.core import topics
from hub.domain.cal_rules import IRRECEVABILITE_MOTIFS
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from schemas import Codec

log = logging.getLogger(__name__)
EVENEMENT = "EVENEMENT"


def evenement_record(
    evenement: dict[str, Any], state: DemandeState, profile: str, now_ms: int
) -> dict[str, Any]:
    return {
        "kind": EVENEMENT,
        "eventId": evenement["eventId"],
        "numUnique": state.num_unique,
        "operation": evenement["operation"],
        "demandeVersion": state.version,
        "occurredAt": evenement["occurredAt"],
        "dispatchedAt": now_ms,
        "profile": profile,
        "reason": None,
        "changedFields": [],
        "demande": None,
        "evenement": evenement,
    }


def radiation_for(evenement: dict[str, Any], state: DemandeState) -> dict[str, Any] | None:
    """The RAD demand event an irrecevabilité decision leads to (None otherwise).

    Its ``sousMotifIrrecevabilite`` is the decision's ``MOTIF`` only when that is a code of
    the domain's list (:data:`~hub.domain.cal_rules.IRRECEVABILITE_MOTIFS`), else null: the
    element is a code (``[a-zA-Z0-9]{1,6}`` in the InterfaceNuu XSD) and ``MOTIF`` is free
    text wherever the API's CAL guard did not check it (a record written to hub.evenements
    by another producer); the radiation happens either way."""
    fields = evenement.get("caracteristiques") or {}
    if evenement["codeTypeEvenement"] != "DECISCAL" or fields.get("DECISION") != "IRREC":
        return None
    if not state.active or state.demande is None:
        return None
    demande = copy.deepcopy(state.demande)
    inner = demande.get("demandeLogement") or {}
    motif = fields.get("MOTIF")
    inner["radiation"] = {
        "dateRadiation": fields.get("DATEDEC") or evenement["dateSurvenance"],
        "motifRadiation": "RADIRR",
        "sousMotifIrrecevabilite": motif if motif in IRRECEVABILITE_MOTIFS else None,
        "absenceReponse": None,
    }
    return {
        "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"radirr:{evenement['eventId']}")),
        "numUnique": state.num_unique,
        "operation": "RAD",
        "occurredAt": evenement["occurredAt"],
        "source": "cal",
        "changedFields": ["radiation"],
        "versionInterface": "02.01",
        "demande": demande,
    }


async def handle(
    value: bytes | None,
    key: bytes | None,
    store: StateStore,
    index: TerritoryIndex,
    codec: Codec,
    sender: Sender,
    *,
    partition: int = -1,
    offset: int = -1,
    max_record_bytes: int = 262_144,
    max_output_bytes: int = 1_000_000,
    headers: Sequence[tuple[str, bytes]] = (),
) -> int:
    """Process one hub.evenements message alone, as the worker's processor does within a
    batch (:mod:`dispatch.parking`: delivered, parked or dead-lettered), its outputs
    acknowledged and its writes stored; return the number of feed records sent.

    ``partition`` -1: the key's. Every record ends in one place: its holders' feeds
    (possibly none), the parking, or ``hub.dlq`` with its reason (``oversize`` too when
    one of its outputs is above ``max_output_bytes``, the producer's max_request_size).
    Only a retriable error (the broker) propagates."""
    # the processor imports dispatch.parking, which imports this module
    from dispatch.processor import InputRecord, Processor

    if partition < 0:
        partition = 0 if key is None else partition_of(key, store.partitions)
    proc = Processor(index, codec, store, sender, max_record_bytes=max_record_bytes,
                     max_output_bytes=max_output_bytes)  # fmt: skip
    rec = InputRecord(topics.EVENEMENTS, partition, offset, key, value, tuple(headers))
    stats = await proc.process([rec])
    return sum(n for (_, kind), n in stats.by_actor.items() if kind == EVENEMENT)


def fan_out(
    evenement: dict[str, Any], state: DemandeState, index: TerritoryIndex, codec: Codec, now: int
) -> list[Output]:
    """What one event of a known demand sends: an ``EVENEMENT`` record to each of the
    state's recipients (with its profile), then the ``RAD`` it leads to, if any."""
    key = state.num_unique.encode()
    pending: list[Output] = []
    for actor_id in sorted(state.recipients):
        actor = index.actor(actor_id)
        profile = actor.profile if actor is not None else "consultant_simple"
        record = evenement_record(evenement, state, profile, now)
        pending.append((topics.feed_topic(actor_id), key, wire(codec.encode("FeedRecord", record))))
    radiation = radiation_for(evenement, state)
    if radiation is not None:
        pending.append((topics.DEMANDES, key, codec.encode("DemandeEvent", radiation)))
    return pending
