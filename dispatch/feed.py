"""Building feed records: what an actor reads on hub.feed.<actor_id>.

Records are encoded once per (kind, reason, profile) and the same bytes are sent to every
recipient of that group: encode-once fan-out. A record carrying a snapshot also carries
the state's délai anormalement long flag (docs/lifecycle.md) and the demand's score under
its EPCIs' grids (:mod:`dispatch.cotation`, when a scoring is installed).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dispatch import cotation
from hub.domain.decisions import FORMER_RECIPIENT, RETRAIT
from hub.domain.profiles import cut_for_profile
from hub.domain.state import DemandeState


def feed_record(
    *,
    kind: str,
    state: DemandeState,
    event_id: str,
    operation: str,
    occurred_at: int,
    changed_fields: list[str],
    profile: str,
    reason: str | None,
    now_ms: int,
    epcis: Collection[str] | None = None,
) -> dict[str, Any]:
    """One FeedRecord. A withdrawal, and a radiation told to a former recipient, carry no
    snapshot: no personal data goes to an actor no longer entitled to it — nor the délai
    flag or the score, which are about the demand. ``epcis``: the EPCIs whose scores the
    record may carry (:func:`dispatch.cotation.scope` of its recipients); None: every
    EPCI of the demand (what the processor passes today: docs/cotation.md)."""
    bare = kind == RETRAIT or reason == FORMER_RECIPIENT
    scoring = cotation.installed()
    # an active demand is scored (a radiated one has left the queue)
    scored = not bare and state.active and state.demande is not None
    return {
        "kind": kind,
        "eventId": event_id,
        "numUnique": state.num_unique,
        "operation": operation,
        "demandeVersion": state.version,
        "occurredAt": occurred_at,
        "dispatchedAt": now_ms,
        "profile": profile,
        "reason": reason,
        "changedFields": changed_fields,
        "delaiAnormalementLong": None if bare else state.delai_anormalement_long,
        "delaiAnormalementLongSource": None if bare else state.delai_source,
        "cotations": [
            c for c in scoring.cotations(state, occurred_at) if epcis is None or c["epci"] in epcis
        ]
        if scoring and scored
        else [],
        "demande": None if bare else cut_for_profile(state.demande, profile),
        "evenement": None,
    }
