"""Gestion partagée events (``hub.evenements``) fanned out to every holder of the demand.

``hub.evenements`` is keyed and partitioned like ``hub.demandes``, so the worker that owns
a demand's state (``demande-state`` table) also reads its events: the holders are the
state's ``recipients``. Each holder gets a ``FeedRecord`` of kind ``EVENEMENT`` (field
``evenement``; no demand snapshot) on its feed. An event of a demand the worker does not
know (not dispatched yet, or deleted) reaches nobody but is logged.

A CAL decision rejecting the demand for irrecevabilité (``DECISCAL`` with
``DECISION=IRREC``) leads to its radiation (CCH R441-3): the worker, which holds the last
snapshot, publishes a ``RAD`` demand event (motive ``RADIRR``) to ``hub.demandes``; its
event id derives from the GP event's, so a replay produces the same radiation.
Undecodable input goes to ``hub.dlq`` like every bad input of the worker.

Plain logic: the faust agent that calls :func:`handle` is declared in
``dispatch.runtime.app``.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from dispatch.feedbytes import wire
from dispatch.letters import check_key, check_outputs, dead_letter, refusal, screen
from dispatch.processor import StateStore
from dispatch.sending import Output, Sender, send_all
from hub.core import topics
from hub.core.errors import HubError
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
    """The RAD demand event an irrecevabilité decision leads to (None otherwise)."""
    fields = evenement.get("caracteristiques") or {}
    if evenement["codeTypeEvenement"] != "DECISCAL" or fields.get("DECISION") != "IRREC":
        return None
    if not state.active or state.demande is None:
        return None
    demande = copy.deepcopy(state.demande)
    inner = demande.get("demandeLogement") or {}
    inner["radiation"] = {
        "dateRadiation": fields.get("DATEDEC") or evenement["dateSurvenance"],
        "motifRadiation": "RADIRR",
        "sousMotifIrrecevabilite": fields.get("MOTIF"),
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
    """Fan one hub.evenements message out; return the number of feed records sent.

    Every record ends in one place: its holders' feeds (possibly none: a demand not
    dispatched here is logged), or ``hub.dlq`` with its reason (``dispatch.letters``;
    ``oversize`` too when one of its outputs is above ``max_output_bytes``, the
    producer's max_request_size). Only a retriable error (the broker) propagates."""
    now = int(time.time() * 1000)
    try:
        pending = _fan_out(value, key, store, index, codec, partition, now, max_record_bytes)
        check_outputs(pending, max_output_bytes)  # else the producer refuses it at every try
    except Exception as exc:
        if isinstance(exc, HubError) and exc.retriable:
            raise
        pending = [dead_letter(codec, refusal(exc), topic=topics.EVENEMENTS,
                               partition=partition, offset=offset, key=key, value=value,
                               now_ms=now, headers=headers)]  # fmt: skip
    await send_all(sender, pending)  # acknowledged before faust acks (and commits) the input
    return sum(1 for topic, _, _ in pending if topic.startswith(topics.FEED_PREFIX))


def _fan_out(
    value: bytes | None,
    key: bytes | None,
    store: StateStore,
    index: TerritoryIndex,
    codec: Codec,
    partition: int,
    now: int,
    max_record_bytes: int,
) -> list[Output]:
    screen(value, key, max_record_bytes)
    assert value is not None  # screened
    evenement = codec.decode_as(value, "EvenementGP")
    check_key(key, evenement["numUnique"])
    raw = store.get(evenement["numUnique"].encode(), partition if partition >= 0 else None)
    if raw is None:
        log.info("gestion partagée event for a demand not dispatched here; nobody to tell")
        return []
    state = DemandeState.from_avro(codec.decode_as(raw, "DemandeState"))
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
