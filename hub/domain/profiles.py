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
score (:mod:`hub.domain.profiles_cotation`). On the way back, a write made from a cut copy
keeps what its profile does not see (:func:`restore_withheld`, :func:`written_changes`):
the cut withholds, it never erases. Every channel (Kafka feed, API feed,
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


# -- the way back: a write made from a cut copy (audit K, F2) ---------------------------


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _with(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``doc`` with ``path`` set to ``value``, the dicts along it copied (``doc`` is left
    untouched); the dicts above the last key must exist."""
    head, rest = path[0], path[1:]
    if not rest:
        return {**doc, head: value}
    return {**doc, head: _with(doc[head], rest, value)}


def _shown(piece: dict[str, Any]) -> bool:
    return piece.get("categorie") in _PUBLIC_CATEGORIES


def _restore_pieces(
    stored: list[dict[str, Any]] | None, incoming: list[dict[str, Any]] | None, profile: str
) -> list[dict[str, Any]] | None:
    """The document index of a write from a copy cut to ``profile``
    (:func:`restore_withheld`)."""
    if incoming is None:  # not carried: an InterfaceNuu document has no index
        return stored
    entries = stored or []
    shown = [p for p in incoming if _shown(p)]  # a withheld entry sent is not the writer's
    if profile not in REFERENCE_PROFILES:
        # the n-th visible entry of a (category, type, date) takes the n-th stored one's
        # reference: the writer saw the entry, never where its document lies
        refs: dict[tuple[Any, ...], list[Any]] = {}
        for p in filter(_shown, entries):
            refs.setdefault((p.get("categorie"), p.get("type"), p.get("dateDepot")), []).append(
                p.get("reference")
            )
        restored = []
        for p in shown:
            left = refs.get((p.get("categorie"), p.get("type"), p.get("dateDepot")))
            ref = left.pop(0) if left else p.get("reference")
            restored.append(p if p.get("reference") == ref else {**p, "reference": ref})
        shown = restored
    # each withheld entry goes back after as many visible entries as preceded it when
    # stored: an unchanged visible list gives the stored order back
    withheld: list[tuple[int, dict[str, Any]]] = []
    before = 0
    for p in entries:
        if _shown(p):
            before += 1
        else:
            withheld.append((before, p))
    out: list[dict[str, Any]] = []
    for i, p in enumerate(shown):
        while withheld and withheld[0][0] <= i:
            out.append(withheld.pop(0)[1])
        out.append(p)
    out += [p for _, p in withheld]
    return incoming if out == incoming else out


def restore_withheld(
    stored: dict[str, Any] | None, incoming: dict[str, Any] | None, profile: str
) -> dict[str, Any] | None:
    """The snapshot a write leaves when its ``incoming`` snapshot was made from a copy cut
    to ``profile`` (the demand event's ``profile``): ``incoming`` for what ``profile``
    sees, ``stored`` (the demand's current snapshot) for what :func:`cut_for_profile`
    withholds from it. A holder can neither erase nor change what it never received (audit
    K, F2: a ``consultant_simple`` MOD erased, for everyone, the sensitive fields, the
    sensitive documents and every document ``reference``).

    Contract, for snapshots as the codec decodes them (every field present) and
    ``profile`` one of :data:`PROFILES` (ValueError otherwise). Let ``carried`` be
    ``incoming`` whose document index, when it has none (None: an InterfaceNuu document
    carries no index) and ``profile`` is below ``consultant_sensible``, is ``stored``'s.
    Then:

    * ``cut_for_profile(result, profile) == cut_for_profile(carried, profile)``: what the
      writer sees is as it wrote it;
    * what the cut withholds is ``stored``'s: each field of :data:`SENSITIVE_PATHS` holds
      ``stored``'s value wherever ``incoming`` has the record holding it (a writer dropping
      a record it sees, the whole ``principauxMotifDemande``, drops its withheld fields
      with it: there is nowhere to keep them); the withheld entries of the document index
      (sensitive or unknown categories) are ``stored``'s, in its order, each after as many
      visible entries as preceded it there (withheld entries in ``incoming`` are dropped:
      a writer cannot add what it may not see); below :data:`REFERENCE_PROFILES`, the n-th
      visible entry of a (category, type, deposit date) has the ``reference`` of the n-th
      such entry of ``stored`` (an entry ``stored`` lacks keeps its own).

    ``consultant_sensible`` sees everything, and without ``stored`` or ``incoming`` there
    is nothing to keep: ``incoming`` comes back. The result is ``incoming`` itself when
    nothing was restored, else a copy sharing the untouched subtrees; neither input is
    modified.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    if stored is None or incoming is None or profile == "consultant_sensible":
        return incoming
    out = incoming
    for path in SENSITIVE_PATHS:
        holder, kept = _at(out, path[:-1]), _at(stored, path)
        if isinstance(holder, dict) and holder.get(path[-1]) != kept:
            out = _with(out, path, kept)
    pieces = _restore_pieces(stored.get(PIECES), incoming.get(PIECES), profile)
    if pieces is not incoming.get(PIECES):
        out = {**out, PIECES: pieces}
    return out


def kept_index(
    stored: dict[str, Any] | None, incoming: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The snapshot a write without ``profile`` leaves (the SNE poller, the SOAP gateway's
    relay, ``hub publish``, producers): ``incoming``, except that when it carries no
    document index (``piecesJustificatives`` null: InterfaceNuu has no element for it, so
    no XML source can carry one) the stored index is kept. Every change the SNE made to a
    demand erased the documents partners had indexed before, for everyone. A write that
    means to empty the index sends ``[]``. ``incoming`` itself when nothing is kept."""
    if stored is None or incoming is None or incoming.get(PIECES) is not None:
        return incoming
    if stored.get(PIECES) is None:
        return incoming
    return {**incoming, PIECES: stored[PIECES]}


def written_changes(changed: list[str], profile: str | None) -> list[str]:
    """The ``changedFields`` a write from a copy cut to ``profile`` can truly claim: without
    the paths at or below a field of :data:`SENSITIVE_PATHS` when ``profile`` does not see
    it (:func:`restore_withheld` kept the stored value: it did not change). The input
    itself when nothing is dropped (None: a whole snapshot, nothing dropped)."""
    if profile is None or profile == "consultant_sensible" or not changed:
        return changed
    roots = [tuple(part.lower() for part in path) for path in SENSITIVE_PATHS]

    def withheld(path: str) -> bool:
        parts = tuple(p for p in _PARTS.split(path.lower()) if p and not p.isdigit())
        return any(parts[: len(root)] == root for root in roots)

    kept = [p for p in changed if not withheld(p)]
    return changed if len(kept) == len(changed) else kept
