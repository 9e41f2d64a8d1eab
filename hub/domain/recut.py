"""A feed record as the actor's *current* profile may see it: every channel that serves a
record later than the dispatcher wrote it (``GET /feed``, the webhook and SOAP push, the
DIS files) cuts it again here when it serves it.

Each record of ``hub.feed.<actor>`` was cut to the profile the actor had when it was
written (:func:`dispatch.feed.feed_record`). When the profile is lowered, the hub sends a
copy of every demand the actor holds cut to the new one (``COPIE``, reason
``profil_modifie``: dispatch/redispatch.py), but the records written before stay in the
topic until retention removes them, and a channel may serve them after the change: the
API again on demand (a cursor taken back to 0), the push outbox once a receiver that was
down is back, the DIS outbox at its next run. So each of them cuts the record again to the
actor's profile at the time it serves it: no channel sends more than that profile allows,
whatever the record held.

Contract of :func:`recut`: a record written for a profile wider than ``profile`` (or for a
profile this version does not know, or none: fails closed) comes back with what it tells
of the demand cut to ``profile`` as :func:`~dispatch.feed.feed_record` cuts it — the
snapshot (:func:`~hub.domain.profiles.cut_for_profile`), ``changedFields``
(:func:`~hub.domain.profiles.visible_changes`), the scores
(:func:`~hub.domain.profiles_cotation.cut_cotations`, under the shipped grids) — and
``profile`` set to it; any other record is returned as is (the same object). A record cut
to a narrower profile is never widened: what it lacks is not in it (after an upgrade the
copies bring it). The input is never modified. ``profile`` must be one of
:data:`~hub.domain.profiles.PROFILES` (ValueError otherwise).
"""

from __future__ import annotations

from typing import Any

from hub.domain.cotation import shipped_grids
from hub.domain.profiles import PROFILES, cut_for_profile, visible_changes
from hub.domain.profiles_cotation import cut_cotations

#: profiles from the narrowest to the widest: each receives all the narrower ones do
_RANK = {p: i for i, p in enumerate(PROFILES)}


def is_wider(written: object, profile: str) -> bool:
    """Whether a record whose ``profile`` field is ``written`` holds more than ``profile``
    may see (a value that is no known profile counts as wider: fails closed)."""
    if profile not in _RANK:
        raise ValueError(f"unknown profile {profile!r}")
    rank = _RANK.get(written, len(PROFILES)) if isinstance(written, str) else len(PROFILES)
    return rank > _RANK[profile]


def recut(record: dict[str, Any], profile: str) -> dict[str, Any]:
    """``record`` as ``profile`` may see it (module doc)."""
    if not is_wider(record.get("profile"), profile):
        return record
    return {
        **record,
        "profile": profile,
        "demande": cut_for_profile(record.get("demande"), profile),
        "changedFields": visible_changes(list(record.get("changedFields") or []), profile),
        "cotations": cut_cotations(list(record.get("cotations") or []), profile, shipped_grids()),
    }
