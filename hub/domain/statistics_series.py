"""The additive series of the territorial statistics, for secondary secrecy (audit R,
R-F2; docs/statistics.md, "Territories that could be subtracted").

A demand counts at its first wished commune, so each series below is, for an EPCI or a
département, the sum of its communes' values: :func:`secondary` runs
:func:`hub.domain.statistics_secondary.suppress` on each and says which of the territory's
figures are withheld. The series are those whose figures add up:

* ``stock``: the active demands;
* ``nouvelles`` of a month: created that month;
* ``attributions`` of a month: radiated ``RADATT`` that month;
* ``autres`` of a month: radiated that month for another motive. It is never published:
  the radiated count of a month (attributions + autres) is shown only when both parts are
  publishable, so it adds nothing an attacker could combine;
* the 12-month window and its mean waiting time are shown only when each of the window's
  months of ``attributions`` is published: sums of published figures again.

The median seniority and the similar demands' quartiles do not add up between
territories and are left to the primary rule.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping

from hub.domain.geo_components import Members
from hub.domain.statistics import (
    ATTRIBUTIONS,
    AUTRES,
    NOUVELLES,
    RADATT,
    STOCK,
    Fait,
    month_of,
)
from hub.domain.statistics_secondary import Withheld, suppress

#: (series, month ``YYYY-MM`` or "" for the stock)
Serie = tuple[str, str]


def series_counts(faits: Iterable[Fait], mois: Iterable[str]) -> dict[Serie, Counter[str]]:
    """Each series' count per commune over ``faits``, for the months ``mois``."""
    wanted = set(mois)
    out: dict[Serie, Counter[str]] = {}

    def add(serie: Serie, commune: str) -> None:
        out.setdefault(serie, Counter())[commune] += 1

    for f in faits:
        if f.commune is None:
            continue
        if f.active:
            add((STOCK, ""), f.commune)
        created = month_of(f.date_creation)
        if created in wanted:
            add((NOUVELLES, created or ""), f.commune)
        radiated = month_of(f.date_radiation)
        if not f.active and radiated in wanted:
            kind = ATTRIBUTIONS if f.motif_radiation == RADATT else AUTRES
            add((kind, radiated or ""), f.commune)
    return out


def wanted(mois: Iterable[str]) -> list[Serie]:
    """The series a territory's figures over ``mois`` read (the stock, then per month)."""
    months = sorted(set(mois))
    return [(STOCK, "")] + [(k, m) for k in (NOUVELLES, ATTRIBUTIONS, AUTRES) for m in months]


def secondary(
    counts: Mapping[Serie, Mapping[str, int]],
    members: Members,
    niveau: str,
    code: str,
    series: Iterable[Serie],
    seuil: int,
) -> frozenset[Serie]:
    """The ``series`` whose figure of territory ``code`` at ``niveau`` is withheld, the
    primary rule included. ``counts``: each series' count per commune (as
    :func:`series_counts`) over every commune ``members`` covers (communes outside it are
    left out of the decision: a row folded under a former geography); ``members``: the
    communes of the départements linked to ``code`` through the EPCIs spanning several
    (:mod:`hub.domain.geo_components`). Each series' decision is remembered for the same
    counts (the territories of one component share it)."""
    out = set()
    for serie in series:
        found = counts.get(serie, {})
        kept = {c: n for c, n in found.items() if c in members.table and n}
        if _decide(members, kept, seuil).has(niveau, code):
            out.add(serie)
    return frozenset(out)


#: decisions remembered, by counts' digest: a few MB (review V, V-F3: keyed by the whole
#: series, 256 of them held ~100 MB)
_DECISIONS: OrderedDict[tuple[int, str, int], tuple[Members, Withheld]] = OrderedDict()
_KEEP = 32


def _decide(members: Members, kept: Mapping[str, int], seuil: int) -> Withheld:
    digest = hashlib.blake2b(repr(sorted(kept.items())).encode(), digest_size=16).hexdigest()
    key = (id(members), digest, seuil)
    found = _DECISIONS.get(key)
    if found is not None and found[0] is members:  # the id of a live object only
        _DECISIONS.move_to_end(key)
        return found[1]
    decided = suppress(kept, members.table, seuil)
    _DECISIONS[key] = (members, decided)
    if len(_DECISIONS) > _KEEP:
        _DECISIONS.popitem(last=False)
    return decided


def forget_decisions() -> None:
    """Empty the remembered decisions (benchmarks, tests)."""
    _DECISIONS.clear()
