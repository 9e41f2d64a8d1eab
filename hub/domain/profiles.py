"""Per-profile cut of a demand snapshot (SNE access profiles).

The declared list of what a profile without the right never receives:

* :data:`SENSITIVE_PATHS` — fields (under the snapshot) only ``consultant_sensible`` sees;
* :data:`SENSITIVE_CATEGORIES` — document categories (:mod:`hub.domain.pieces`, versioned table)
  whose entries of the document index ``piecesJustificatives`` only ``consultant_sensible``
  sees. A category the table does not know is withheld too (fails closed);
* :data:`REFERENCE_PROFILES` — profiles that receive the documents themselves (the
  ``reference`` of each non-sensitive piece); ``consultant_simple`` gets the list only
  (category, type, deposit date, ``reference`` set to None).

What a record says *changed* is cut the same way (:func:`visible_changes`), and so is its
score (:mod:`hub.domain.profiles_cotation`). Every channel (Kafka feed, API feed,
webhook, SOAP push, DIS files) builds its records from the FeedRecord made by
:func:`dispatch.feed.feed_record`, which calls these cuts: what is declared here is
enforced everywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from hub.domain.pieces import VERSION as PIECES_VERSION
from hub.domain.pieces import public_categories, sensitive_categories

#: Paths (under the snapshot) that only consultant_sensible may receive.
SENSITIVE_PATHS: tuple[tuple[str, ...], ...] = (
    ("demandeLogement", "listeHandicap"),
    ("demandeLogement", "principauxMotifDemande", "compDateJugement"),
    ("demandeLogement", "principauxMotifDemande", "compAutreMotif"),
)
#: The snapshot field holding the document index (hub extension of the Demande record).
PIECES = "piecesJustificatives"
#: Document categories that only consultant_sensible may receive (table version below).
SENSITIVE_CATEGORIES: frozenset[str] = sensitive_categories(PIECES_VERSION)
#: Categories a profile without the sensitive right may receive: known and not sensitive.
_PUBLIC_CATEGORIES = public_categories(PIECES_VERSION) - SENSITIVE_CATEGORIES

PROFILES = ("consultant_simple", "consultant_demande", "consultant_sensible")
#: Profiles that receive the non-sensitive documents themselves (their ``reference``).
REFERENCE_PROFILES = frozenset({"consultant_demande", "consultant_sensible"})


def _without(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with ``path`` set to None: the dicts along the path are copied, the rest is
    shared with ``doc`` (which is left untouched)."""
    head, rest = path[0], path[1:]
    if not rest:
        return {**doc, head: None}
    return {**doc, head: _without(doc[head], rest)}


def _present(doc: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc is not None


def visible_pieces(
    pieces: list[dict[str, Any]] | None, profile: str
) -> list[dict[str, Any]] | None:
    """The document index as ``profile`` may see it (see the module doc)."""
    if pieces is None or profile == "consultant_sensible":
        return pieces
    keep_ref = profile in REFERENCE_PROFILES
    return [
        p if keep_ref or p.get("reference") is None else {**p, "reference": None}
        for p in pieces
        if p.get("categorie") in _PUBLIC_CATEGORIES
    ]


def cut_for_profile(demande: dict[str, Any] | None, profile: str) -> dict[str, Any] | None:
    """Return the snapshot as ``profile`` may see it.

    The input is never modified; the result is the input itself when nothing is cut, else
    a copy sharing the untouched subtrees with it (treat both as read-only). Raises
    ValueError for an unknown profile.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    if demande is None or profile == "consultant_sensible":
        return demande
    out = demande
    for path in SENSITIVE_PATHS:
        if _present(out, path):
            out = _without(out, path)
    pieces = demande.get(PIECES)
    shown = visible_pieces(pieces, profile)
    if shown != pieces:
        out = {**out, PIECES: shown}
    return out


#: What separates the parts of a changed-field path: dots (the documented form), and the
#: slashes and list indices a producer may write (``a/b``, ``a[0].b``) — read generously,
#: so that no spelling of a withheld field slips through.
_PARTS = re.compile(r"[./\[\]]+")
#: The changed-field roots withheld below consultant_sensible: the sensitive fields, and
#: the document index (its cut hides withheld documents: "the index changed" while the
#: profile's index did not would tell a withheld document came or went).
_UNSEEN_CHANGES = tuple(
    tuple(part.lower() for part in path) for path in (*SENSITIVE_PATHS, (PIECES,))
)


@lru_cache(maxsize=4096)
def _withheld_change(path: str) -> bool:
    """Whether ``path`` is at, below or above a withheld root (above: it may have changed
    only through the withheld field below it)."""
    parts = tuple(p for p in _PARTS.split(path.lower()) if p and not p.isdigit())
    return any(
        parts[: len(root)] == root or root[: len(parts)] == parts for root in _UNSEEN_CHANGES
    )


def visible_changes(changed: list[str], profile: str) -> list[str]:
    """``changedFields`` as ``profile`` may see them: below consultant_sensible, without
    the paths at, below or above a sensitive field or the document index. Returns the
    input itself when nothing is cut (never modifies it). Raises ValueError for an
    unknown profile."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    if profile == "consultant_sensible" or not changed:
        return changed
    kept = [p for p in changed if not _withheld_change(p)]
    return changed if len(kept) == len(changed) else kept
