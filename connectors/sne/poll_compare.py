"""What the poller publishes for a demand: its document as the SNE answers it now, compared
with the snapshot the poller last published (``sne_poll_seen``).

Unseen → ``CRE``; renewal date changed → ``REN``; other change → ``MOD`` with
``changedFields`` (dotted paths of the differing fields); radiated → ``RAD``, once;
unchanged → nothing. The ``eventId`` derives from the snapshot's digest, so that the same
change published twice (a crash between publishing and recording) is one event to the
consumers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

from connectors.sne.poll_deletions import NS, RAD, SUP

#: the changed field that makes a change a renewal
RENEWAL = "demandeLogement.renouvellement.dateRenouvellement"


def changed_paths(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Dotted paths where ``old`` and ``new`` differ (lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            yield from changed_paths(old.get(key), new.get(key), f"{path}.{key}" if path else key)
    elif old != new:
        yield path


def digest(snapshot: Any) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()


def compare(
    event: dict[str, Any], num: str, seen: dict[str, Any] | None
) -> tuple[dict[str, Any], str] | None:
    """The event to publish for ``num`` (``event``: its document read now; ``seen``: its
    ``sne_poll_seen`` row, None if never published) and its digest; None when nothing
    changed or nobody is to be told (radiated before the hub published it, or after it was
    deleted)."""
    radiation = (event["demande"]["demandeLogement"] or {}).get("radiation")
    # a radiation block with an empty motive is a reactivation (docs/lifecycle.md)
    radiated = bool(radiation) and (radiation or {}).get("motifRadiation") != ""
    sha = seed = digest(event["demande"])
    if radiated:
        if seen is None or seen["event"]["operation"] in (RAD, SUP):
            return None
        event["operation"] = RAD
    elif seen is None or seen["event"]["operation"] == SUP:
        event["operation"] = "CRE"  # unseen, or deleted and found again: new to all
        if seen is not None:  # not the id of its first CRE, which consumers have seen
            seed = f"{sha}|again"
    elif seen["digest"] == sha:
        return None
    else:
        paths = list(changed_paths(seen["event"]["demande"], event["demande"]))
        event["operation"] = "REN" if RENEWAL in paths else "MOD"
        event["changedFields"] = paths
    event.update(numUnique=num, eventId=str(uuid.uuid5(NS, f"{seed}|{event['operation']}")))
    return event, sha
