"""Départements linked by the EPCIs spanning several (secondary secrecy, audit R R-F2).

An EPCI may span départements, so a commune's figure can be recovered through a chain of
EPCIs and départements: the secrecy of one territory is decided over every commune of the
départements linked to it (89 EPCIs span départements in the 2025 geography; the largest
group links 20 départements). Computed once per geography.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from hub.domain.geo import Geography


@lru_cache(maxsize=4)
def _groups(geo: Geography) -> dict[str, frozenset[str]]:
    parent: dict[str, str] = {d: d for d in geo.departements()}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for epci in sorted(geo.epcis()):
        deps = sorted({geo.commune(c).departement for c in geo.communes_of_epci(epci)})
        for d in deps[1:]:
            parent.setdefault(d, d)
            parent.setdefault(deps[0], deps[0])
            parent[root(d)] = root(deps[0])
    members: dict[str, set[str]] = {}
    for d in parent:
        members.setdefault(root(d), set()).add(d)
    return {d: frozenset(members[root(d)]) for d in parent}


def linked_departements(geo: Geography, niveau: str, code: str) -> frozenset[str]:
    """The départements whose communes decide the secrecy of territory ``code``."""
    if niveau == "commune":
        deps = {geo.commune(code).departement}
    elif niveau == "epci":
        deps = {geo.commune(c).departement for c in geo.communes_of_epci(code)}
    else:
        deps = {code}
    groups = _groups(geo)
    return frozenset(d2 for d in deps for d2 in groups.get(d, frozenset({d})))


@dataclass(frozen=True, eq=False)
class Members:
    """commune → (EPCI or None, département) of every current commune of some départements
    (:func:`membership`): one object per geography and départements, so that decisions
    over it can be remembered (hashed by identity)."""

    table: Mapping[str, tuple[str | None, str]]


@lru_cache(maxsize=64)
def membership(geo: Geography, departements: frozenset[str]) -> Members:
    """The :class:`Members` of every current commune of ``departements`` (arrondissements
    and communes déléguées are counted in their commune)."""
    out: dict[str, tuple[str | None, str]] = {}
    for d in sorted(departements):
        for c in geo.communes_of_departement(d):
            commune = geo.commune(c)
            if commune.parent is None:
                out[c] = (commune.epci, commune.departement)
    return Members(MappingProxyType(out))


@lru_cache(maxsize=4)
def _counted_in(geo: Geography) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for code in geo.communes():
        found.setdefault(geo.current_commune(code), set()).add(code)
    for old, today in geo.former_codes().items():
        found.setdefault(geo.current_commune(today), set()).add(old)
    return {c: frozenset(codes) for c, codes in found.items()}


def current_of(geo: Geography, code: str | None) -> str | None:
    """The current commune a stored commune code is counted in today (a code folded under
    a former geography: its successor; a part: its commune); None when unknown."""
    if code is None or not geo.is_known(code):
        return None
    return geo.current_commune(geo.resolve(code))


def stored_codes(geo: Geography, communes: Iterable[str]) -> frozenset[str]:
    """Every code a fact counted in ``communes`` (current communes) may be stored under:
    each commune, its parts and the former codes resolving to it (audit U, U-F1: facts
    folded under an earlier geography are counted where today's geography puts them)."""
    table = _counted_in(geo)
    return frozenset(code for c in communes for code in table.get(c, (c,)))
