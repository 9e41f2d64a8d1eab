"""Per-profile cut of a demand snapshot (SNE access profiles).

``consultant_sensible`` sees everything; the other profiles lose the fields declared
sensitive here. The declared list grows with the document categories (issue 4); what is
declared is enforced on every channel because every channel builds records through
:func:`cut_for_profile`.
"""

from __future__ import annotations

import copy
from typing import Any

#: Paths (under the snapshot) that only consultant_sensible may receive.
SENSITIVE_PATHS: tuple[tuple[str, ...], ...] = (
    ("demandeLogement", "listeHandicap"),
    ("demandeLogement", "principauxMotifDemande", "compDateJugement"),
    ("demandeLogement", "principauxMotifDemande", "compAutreMotif"),
)

PROFILES = ("consultant_simple", "consultant_demande", "consultant_sensible")


def cut_for_profile(demande: dict[str, Any] | None, profile: str) -> dict[str, Any] | None:
    """Return the snapshot as ``profile`` may see it (the input is never modified)."""
    if demande is None or profile == "consultant_sensible":
        return demande
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    out: dict[str, Any] | None = None
    for path in SENSITIVE_PATHS:
        parent: Any = demande
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) is not None:
            if out is None:
                out = copy.deepcopy(demande)
            target: Any = out
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = None
    return demande if out is None else out
