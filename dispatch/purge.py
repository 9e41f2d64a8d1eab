"""Purging radiated and deleted demands from the dispatch state (issue 7, ``hub purge``).

The purge job never writes the state table itself: it publishes a ``DispatchPurge``
record on hub.demandes, keyed like the demand's events, so the worker that owns the
demand's partition applies it **in stream order** (after every event before it) and
stores a tombstone through the usual path (changelog compaction then drops the data).
The worker re-checks the condition against its own state: a demand renewed or changed
since the job looked is kept.
"""

from __future__ import annotations

from typing import Any

from hub.domain.state import DemandeState

#: the last operations of a state the purge removes: a radiation, a deletion's marker
PURGED_OPERATIONS = frozenset({"RAD", "SUP"})


def purgeable(state: DemandeState | None, radiated_before_ms: int) -> bool:
    """True when ``state`` is a radiation, or a deletion's marker (hub.domain.decisions.
    deletion_marker), older than ``radiated_before_ms``. The marker is kept that long so
    that the deleted demand's events published again (retries, re-publications) are
    still recognised as duplicates; after the purge they would create it again."""
    return (
        state is not None
        and not state.active
        and state.last_operation in PURGED_OPERATIONS
        and state.occurred_at < radiated_before_ms
    )


def purge_key(body: dict[str, Any]) -> bytes:
    """The state key a ``DispatchPurge`` record names."""
    return str(body["numUnique"]).encode()
