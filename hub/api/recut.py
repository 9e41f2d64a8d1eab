"""Feed records as the caller's *current* profile may see them (``GET /feed``).

Each record of ``hub.feed.<actor>`` was cut to the profile the actor had when it was
written (:func:`dispatch.feed.feed_record`). When the profile is lowered, the hub sends a
copy of every demand the actor holds cut to the new one (``COPIE``, reason
``profil_modifie``: dispatch/redispatch.py), but the records written before stay in the
topic until retention removes them, and the API serves any of them again on demand (a
cursor taken back to 0). So :func:`recut` cuts each record again to the caller's profile
now: the API never answers more than that profile allows, whatever it answered before.

Contract: a record written for a profile wider than ``profile`` (or for a profile this
version does not know: fails closed) comes back with what it tells of the demand cut to
``profile`` as :func:`~dispatch.feed.feed_record` cuts it — the snapshot
(:func:`~hub.domain.profiles.cut_for_profile`), ``changedFields``
(:func:`~hub.domain.profiles.visible_changes`), the scores
(:func:`~hub.domain.profiles_cotation.cut_cotations`, under the shipped grids) — and
``profile`` set to it; any other record is returned as is (the same object). A record cut
to a narrower profile is never widened: what it lacks is not in it (after an upgrade the
copies bring it). The input is never modified.
"""

from __future__ import annotations

from typing import Any

from hub.domain.cotation import shipped_grids
from hub.domain.profiles import PROFILES, cut_for_profile, visible_changes
from hub.domain.profiles_cotation import cut_cotations

#: profiles from the narrowest to the widest: each receives all the narrower ones do
_RANK = {p: i for i, p in enumerate(PROFILES)}


def recut(record: dict[str, Any], profile: str) -> dict[str, Any]:
    """``record`` as ``profile`` may see it (module doc)."""
    written = _RANK.get(str(record.get("profile")), len(PROFILES))
    if written <= _RANK[profile]:
        return record
    return {
        **record,
        "profile": profile,
        "demande": cut_for_profile(record.get("demande"), profile),
        "changedFields": visible_changes(list(record.get("changedFields") or []), profile),
        "cotations": cut_cotations(list(record.get("cotations") or []), profile, shipped_grids()),
    }
