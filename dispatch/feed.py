"""Building feed records: what an actor reads on hub.feed.<actor_id>.

Records are encoded once per (kind, reason, profile) and the same bytes are sent to every
recipient of that group: encode-once fan-out. A record carrying a snapshot also carries
the state's délai anormalement long flag (docs/lifecycle.md) and the demand's score under
its EPCIs' grids (:mod:`dispatch.cotation`, when a scoring is installed).

Everything a record tells of the demand is cut to its ``profile`` here (docs/profiles.md):
the snapshot (:func:`~hub.domain.profiles.cut_for_profile`), ``changedFields``
(:func:`~hub.domain.profiles.visible_changes`) and the scores
(:func:`~hub.domain.profiles_cotation.cut_cotations`). Every record kind and every channel
is built from this record, so nothing else cuts by profile. Cost: once per (kind, reason,
profile) of an emission, not per recipient; nothing is copied when nothing is cut.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dispatch import cotation
from hub.domain.decisions import FORMER_RECIPIENT, RETRAIT
from hub.domain.profiles import cut_for_profile, visible_changes
from hub.domain.profiles_cotation import cut_cotations
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
    EPCI of the demand (what the processor passes today: docs/cotation.md). Raises
    ValueError for an unknown profile."""
    bare = kind == RETRAIT or reason == FORMER_RECIPIENT
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
        "changedFields": visible_changes(changed_fields, profile),
        "delaiAnormalementLong": None if bare else state.delai_anormalement_long,
        "delaiAnormalementLongSource": None if bare else state.delai_source,
        "cotations": _scores(state, occurred_at, profile, epcis) if scored else [],
        "demande": None if bare else cut_for_profile(state.demande, profile),
        "evenement": None,
    }


def _scores(state: DemandeState, occurred_at: int, profile: str,
            epcis: Collection[str] | None) -> list[dict[str, Any]]:  # fmt: skip
    """The record's ``cotations``: the installed scoring's, of ``epcis``, cut to ``profile``."""
    scoring = cotation.installed()
    if scoring is None:
        return []
    found = scoring.cotations(state, occurred_at)
    if epcis is not None:
        found = [c for c in found if c["epci"] in epcis]
    return cut_cotations(found, profile, scoring.grids)
