"""Per-profile cut of a demand's score (docs/profiles.md, "Scores").

A criterion's *truth* is data too: ``SORTIE_PROSTITUTION`` met says what a sensitive
document would. The rule, for every profile but :data:`FULL_SCORE_PROFILES`:

* a computed criterion whose rule type is in :data:`FIELD_RULES` is kept: those rules
  read only fields every profile receives (motive codes, current housing, contract, ages,
  dates, resources), so their truth tells nothing the snapshot does not;
* a declared criterion reads no field: it is kept only when listed in
  :data:`PUBLIC_DECLARED` (its truth belongs to a section every profile receives);
* anything else — another declared criterion, a rule type added later — is **withheld**:
  protection fails closed, as for an unknown document category.

A withheld criterion leaves the detail whatever its status (so its absence tells nothing)
with its ``declarePar``, and its points leave ``total``: the total of a cut score is the
sum of the criteria the profile sees, else ``total`` minus what is listed would show the
points withheld. A score *hors cotation* keeps its total (it reads only the DALO status,
which every profile receives). ``maximum`` stays the grid's (the grid is public).

Writing follows reading (:func:`declarable_by`, independent audit K F5): a profile
declares or withdraws only the declared criteria it reads — the full-score profiles any,
the others those of :data:`PUBLIC_DECLARED` — else an actor that must not know a fact
(offence, sexual life: RGPD art. 9, 10) could rewrite it and move the applicant's score.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hub.domain.cotation import Grille, Grilles, Score
from hub.domain.cotation.grid import Critere
from hub.domain.profiles import PROFILES

#: Profiles receiving the whole score (those receiving the sensitive sections).
FULL_SCORE_PROFILES = frozenset({"consultant_sensible"})
#: Rule types reading only fields every profile receives (hub.domain.cotation.engine).
FIELD_RULES = frozenset(
    {"motif", "logement_actuel", "contrat", "age", "anciennete", "quartile_ressources"}
)
#: Declared criteria whose truth belongs to a section every profile receives.
PUBLIC_DECLARED = frozenset(
    {
        "HABITAT_INSALUBRE",  # the current housing's state (LOGACT documents, motive 03)
        "REPRISE_ACTIVITE",  # the professional situation (SPRO documents, contract)
    }
)

#: id(grid) -> (the grid, kept alive so that its id stays its own; its withheld codes)
_WITHHELD: dict[int, tuple[Grille, frozenset[str]]] = {}
#: (id(grids), EPCI, version) -> (the grids, kept alive; the withheld codes of that grid,
#: None when the grids do not know it): one dict lookup per score in the worker
_BY_VERSION: dict[tuple[int, str, str], tuple[Grilles, frozenset[str] | None]] = {}
#: entries kept per cache: a process has a few grids; past this (tests building grids by
#: the hundred), start again rather than keep every grid alive
_KEPT = 256


def withheld(critere: Critere) -> bool:
    """Whether a profile without the full score never receives ``critere``."""
    rule = critere.regle.type
    if rule == "declaration":
        return critere.code not in PUBLIC_DECLARED
    return rule not in FIELD_RULES


def declarable_by(profile: str, critere: str) -> bool:
    """Whether ``profile`` may declare (or withdraw) the criterion ``critere``: any for
    the full-score profiles; for the others, only the declared criteria they read
    (:data:`PUBLIC_DECLARED`). Decided from the code alone, never from a grid, so a
    refusal tells nothing of the criteria a grid or a demand holds (an unknown code is
    refused alike)."""
    return _full(profile) or critere in PUBLIC_DECLARED


def withheld_codes(grid: Grille) -> frozenset[str]:
    """The codes of ``grid`` withheld below :data:`FULL_SCORE_PROFILES` (computed once per
    grid: grids are immutable)."""
    found = _WITHHELD.get(id(grid))
    if found is None or found[0] is not grid:
        if len(_WITHHELD) >= _KEPT:
            _WITHHELD.clear()
        found = _WITHHELD[id(grid)] = (grid, frozenset(c.code for c in grid.criteres
                                                       if withheld(c)))  # fmt: skip
    return found[1]


def _hidden(grids: Grilles, epci: str, version: str) -> frozenset[str] | None:
    key = (id(grids), epci, version)
    found = _BY_VERSION.get(key)
    if found is None or found[0] is not grids:
        if len(_BY_VERSION) >= _KEPT:
            _BY_VERSION.clear()
        grid = grids.get(epci, version)
        found = _BY_VERSION[key] = (grids, None if grid is None else withheld_codes(grid))
    return found[1]


def _full(profile: str) -> bool:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    return profile in FULL_SCORE_PROFILES


def cut_cotations(
    cotations: list[dict[str, Any]], profile: str, grids: Grilles
) -> list[dict[str, Any]]:
    """The FeedRecord ``cotations`` as ``profile`` may see them (module doc). Never
    modifies its input; returns the input list itself when nothing is cut (the common
    case: one set lookup per listed criterion). A score whose grid ``grids`` does not
    know cannot be classified: it is dropped (fails closed)."""
    if _full(profile) or not cotations:
        return cotations
    out: list[dict[str, Any]] = []
    changed = False
    for c in cotations:
        hidden = _hidden(grids, c["epci"], c["versionGrille"])
        if hidden is None:
            changed = True
            continue
        kept = [k for k in c["criteres"] if k["code"] not in hidden]
        if len(kept) == len(c["criteres"]):
            out.append(c)
            continue
        changed = True
        total = c["total"] if c["horsCotation"] else sum(k["points"] for k in kept)
        out.append({**c, "total": total, "criteres": kept})
    return out if changed else cotations


def cut_score(result: Score, grid: Grille, profile: str) -> Score:
    """``result`` (a score under ``grid``) as ``profile`` may see it: the withheld
    criteria are not in the detail, whatever their status (module doc)."""
    if _full(profile):
        return result
    hidden = withheld_codes(grid)
    kept = tuple(d for d in result.detail if d.code not in hidden)
    total = result.total if result.hors_cotation else sum(d.points for d in kept)
    return dataclasses.replace(result, total=total, detail=kept)
