"""A decision's feed records, encoded: what the processor sends for one demand version.

One record per kind, reason and profile (its scores already cut to the profile by
:func:`dispatch.feed.feed_record`: docs/profiles.md), cut to the scores (``cotations``)
of the EPCIs each actor covers (docs/cotation.md), one encoding per distinct record;
profiles seeing the same snapshot share one encoding of it (:mod:`dispatch.feedbytes`).
"""

from __future__ import annotations

from typing import Any

from dispatch import cotation
from dispatch.feed import feed_record
from dispatch.feedbytes import FeedBytes
from dispatch.sending import Output
from dispatch.snapshotbytes import SnapshotBytes
from hub.core import topics
from hub.domain.decisions import Decision
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from schemas import Codec


def feed_outputs(codec: Codec, snapshots: SnapshotBytes, index: TerritoryIndex, decision: Decision,
                 state: DemandeState, *, event_id: str, operation: str, occurred_at: int,
                 changed: list[str], now_ms: int) -> list[Output]:  # fmt: skip
    """``(feed topic, key, value)`` of each delivery of ``decision`` for ``state``, in the
    order of its deliveries (an actor removed meanwhile gets the narrowest profile's cut)."""
    records: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    encoded: dict[tuple[str, str | None, str, tuple[str, ...]], bytes] = {}
    out: list[Output] = []
    # profiles seeing the same snapshot share one encoding (dispatch.feedbytes)
    feed_bytes = FeedBytes(codec, snapshots)
    key = state.num_unique.encode()
    for d in decision.deliveries:
        actor = index.actor(d.actor_id)
        profile = actor.profile if actor is not None else "consultant_simple"
        base = (d.kind, d.reason, profile)
        record = records.get(base)
        if record is None:
            record = records[base] = feed_record(
                kind=d.kind, state=state, event_id=event_id, operation=operation,
                occurred_at=occurred_at, changed_fields=changed, profile=profile,
                reason=d.reason, now_ms=now_ms)  # fmt: skip
        scores = record["cotations"]
        scoring = cotation.installed() if scores else None
        if scoring is not None:  # the scores of the EPCIs this actor covers
            geo = scoring.geography
            mine = [c for c in scores if cotation.covers(actor, c["epci"], geo)]
        else:
            mine = scores
        group = (*base, tuple(c["epci"] for c in mine))
        value = encoded.get(group)
        if value is None:
            cut = record if len(mine) == len(scores) else {**record, "cotations": mine}
            value = encoded[group] = feed_bytes.encode(cut, state.demande_bytes,
                                                       state.demande)  # fmt: skip
        out.append((topics.feed_topic(d.actor_id), key, value))
    return out
