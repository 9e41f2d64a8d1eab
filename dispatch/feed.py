"""Building feed records: what an actor reads on hub.feed.<actor_id>.

Records are encoded once per (kind, reason, profile) and the same bytes are sent to every
recipient of that group: encode-once fan-out.
"""

from __future__ import annotations

from typing import Any

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
) -> dict[str, Any]:
    """One FeedRecord. A withdrawal, and a radiation told to a former recipient, carry no
    snapshot: no personal data goes to an actor no longer entitled to it."""
    bare = kind == RETRAIT or reason == FORMER_RECIPIENT
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
        "demande": None if bare else cut_for_profile(state.demande, profile),
        "evenement": None,
    }
