"""Territorial matching: which actors want a demand.

The index maps territory keys (``c:<INSEE>``, ``e:<SIREN>``, ``d:<dep>``) to actor ids.
A demand is looked up by the keys of each wished commune, so the cost depends on the
number of wished communes and of recipients, never on the number of registered actors.

A wished commune that left the INSEE list (merged into a commune nouvelle) is first
resolved to today's commune through the geography's history of codes
(:meth:`hub.domain.geo.Geography.resolve`): a demand wishing 05141 (Saint-Eusèbe-en-Champsaur,
merged in 2018) falls under the keys of 05039 (Aubessagne), its EPCI and département.

**A commune and its parts** (arrondissements municipaux, communes déléguées/associées):
a demand wishing a part (75112) wishes a place of the whole commune, so it falls under the
whole's key too (``c:75056``: an actor on Paris wants it); a demand wishing the whole
commune (75056) wishes every part of it, so an actor registered on a part wants it too
(audit P, F1: an actor on 75112 never received a demand wishing Paris). That second
direction has a key of its own, ``w:<whole>``, carried by a demand wishing the whole
commune itself and by an actor registered on one of its parts; ``c:<whole>`` cannot
serve, every part's demand carries it: an actor on 75112 would get the 13th's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from hub.core.errors import UnknownCommuneError
from hub.domain.actors import Actor


class Place(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def departement(self) -> str: ...
    @property
    def epci(self) -> str | None: ...
    @property
    def parent(self) -> str | None:
        """The current commune an arrondissement or commune déléguée belongs to."""


class GeographyLike(Protocol):
    def commune(self, code: str) -> Place: ...
    def has_parts(self, code: str) -> bool:
        """Whether ``code`` is a current commune with arrondissements or déléguées."""
        ...

    def resolve(self, code: str) -> str:
        """Today's code for ``code`` (itself, or its successor); UnknownCommuneError if none."""
        ...


#: where a demand's wished commune lives, as a refusal names it
WISHED_COMMUNE = "logementRecherche/listeLocalisationSouhaite/commune"


#: (actor id, first choice only, typologies accepted or None for all)
_Entry = tuple[str, bool, frozenset[str] | None]


def _actor_keys(actor: Actor, geography: GeographyLike) -> frozenset[str]:
    f = actor.filters
    communes = [today_code(c, geography) for c in f.communes]
    return frozenset(
        [f"c:{c}" for c in communes]
        + [f"w:{w}" for w in whole_of_parts(communes, geography)]
        + [f"e:{e}" for e in f.epcis]
        + [f"d:{d}" for d in f.departements]
    )


def today_code(code: str, geography: GeographyLike) -> str:
    """Today's code of a commune filter: an actor registered before its commune merged
    into another (a new geography table) is on the commune it became (the demands wishing
    the old code resolve to it too); the registry refuses former codes in new filters.
    Independent audit P, F2 (b): such an actor received nothing any more."""
    try:
        return geography.resolve(code)
    except UnknownCommuneError:
        return code


def whole_of_parts(communes: Iterable[str], geography: GeographyLike) -> set[str]:
    """The whole communes of the parts (arrondissements, déléguées) among ``communes``:
    an actor registered on a part wants the demands wishing its whole commune (module doc).
    A code the geography does not know is passed over (the registry refuses it)."""
    wholes: set[str] = set()
    for code in communes:
        try:
            parent = geography.commune(code).parent
        except UnknownCommuneError:
            continue
        if parent:
            wholes.add(parent)
    return wholes


class TerritoryIndex:
    """Mutable index of the registered actors' territories.

    ``match`` raises :class:`hub.core.errors.UnknownCommuneError` for a commune code the
    geography does not know, today's nor a former one with a successor: an unknown code is
    an input error, never a silent miss. The message names the element and the value
    (``logementRecherche/listeLocalisationSouhaite/commune: unknown INSEE commune code
    '99999'``).
    """

    def __init__(self, geography: GeographyLike, actors: Iterable[Actor] = ()) -> None:
        self._geo = geography
        self._actors: dict[str, Actor] = {}
        self._keys: dict[str, frozenset[str]] = {}
        self._by_key: dict[str, set[str]] = {}
        self._place_keys: dict[str, tuple[str, ...]] = {}
        #: per wished commune, the actors under any of its keys with what ``match`` checks,
        #: resolved once: a lookup then costs the same at 10 or 10,000 registered actors
        #: (no walk through large dicts and models). Cleared on every actor change.
        self._place_entries: dict[str, tuple[_Entry, ...]] = {}
        #: actor id -> version at which it was deleted (see :meth:`delete`)
        self._deleted: dict[str, int] = {}
        for actor in actors:
            self.upsert(actor)

    def __len__(self) -> int:
        return len(self._actors)

    @property
    def geography(self) -> GeographyLike:
        return self._geo

    def __contains__(self, actor_id: object) -> bool:
        return actor_id in self._actors

    def actor(self, actor_id: str) -> Actor | None:
        return self._actors.get(actor_id)

    def actors(self) -> list[Actor]:
        return list(self._actors.values())

    def upsert(self, actor: Actor) -> bool:
        """Add or replace an actor; ignore an older version, also one older than a deletion
        seen (a partition late in the stream applies changes others applied already).
        Return True if applied."""
        known = self._actors.get(actor.id)
        if known is not None and known.version > actor.version:
            return False
        if actor.version <= self._deleted.get(actor.id, -1):
            return False
        self.remove(actor.id)
        self._place_entries.clear()
        keys = _actor_keys(actor, self._geo)
        self._actors[actor.id] = actor
        self._keys[actor.id] = keys
        for key in keys:
            self._by_key.setdefault(key, set()).add(actor.id)
        return True

    def delete(self, actor_id: str, version: int) -> None:
        """The actor was removed at ``version``: forget it unless a newer registration is
        known, and ignore any registration up to that version from now on."""
        known = self._actors.get(actor_id)
        if known is None or known.version <= version:
            self.remove(actor_id)
        self._deleted[actor_id] = max(version, self._deleted.get(actor_id, -1))

    def remove(self, actor_id: str) -> None:
        self._place_entries.clear()
        for key in self._keys.pop(actor_id, frozenset()):
            ids = self._by_key.get(key)
            if ids is not None:
                ids.discard(actor_id)
                if not ids:
                    del self._by_key[key]
        self._actors.pop(actor_id, None)

    def place_keys(self, commune: str) -> tuple[str, ...]:
        """The index keys a wished commune falls under (cached per commune): those of
        today's commune for a former code."""
        keys = self._place_keys.get(commune)
        if keys is None:
            try:
                place = self._geo.commune(self._geo.resolve(commune))
            except UnknownCommuneError as exc:
                raise UnknownCommuneError(f"{WISHED_COMMUNE}: {exc.message}") from None
            parts = [f"c:{place.code}", f"d:{place.departement}"]
            if place.parent:  # an arrondissement or commune déléguée belongs to its parent
                parts.append(f"c:{place.parent}")
            elif self._geo.has_parts(place.code):  # the whole: every part of it (module doc)
                parts.append(f"w:{place.code}")
            if place.epci:
                parts.append(f"e:{place.epci}")
            keys = self._place_keys[commune] = tuple(parts)
        return keys

    def match(
        self, communes: Sequence[str], typologies: Sequence[str], *, skip_unknown: bool = False
    ) -> set[str]:
        """Ids of the actors whose filters accept a demand wishing ``communes`` (in order
        of preference) for ``typologies``. ``skip_unknown``: a commune the geography does
        not know is passed over (the others keep their rank) instead of raising — for a
        radiation, never refused for a territorial reason."""
        found: set[str] = set()
        for rank, commune in enumerate(communes):
            entries = self._place_entries.get(commune)
            if entries is None:
                try:
                    entries = self._entries(commune)
                except UnknownCommuneError:
                    if skip_unknown:
                        continue
                    raise
            for actor_id, first_only, wanted in entries:
                if actor_id in found or (first_only and rank > 0):
                    continue
                if wanted and not any(t in wanted for t in typologies):
                    continue
                found.add(actor_id)
        return found

    def _entries(self, commune: str) -> tuple[_Entry, ...]:
        ids: dict[str, None] = {}  # ordered, without duplicates (an actor under two keys)
        for key in self.place_keys(commune):
            ids.update(dict.fromkeys(sorted(self._by_key.get(key, ()))))
        entries = []
        for actor_id in ids:
            f = self._actors[actor_id].filters
            entries.append(
                (
                    actor_id,
                    f.premier_choix_seulement,
                    frozenset(f.typologies) if f.typologies else None,
                )
            )
        out = self._place_entries[commune] = tuple(entries)
        return out

    def matches(self, actor_id: str, communes: Sequence[str], typologies: Sequence[str]) -> bool:
        """Whether one actor accepts the demand (used when that actor's filters change).
        A stored demand's commune the geography no longer knows matches no one: an actor
        change is never refused for a demand's territory."""
        keys = self._keys.get(actor_id)
        if not keys:
            return False
        for rank, commune in enumerate(communes):
            try:
                place = self.place_keys(commune)
            except UnknownCommuneError:
                continue
            if not keys.isdisjoint(place):
                return self._accepts(actor_id, rank, typologies)
        return False

    def _accepts(self, actor_id: str, rank: int, typologies: Sequence[str]) -> bool:
        f = self._actors[actor_id].filters
        if f.premier_choix_seulement and rank > 0:
            return False
        return not f.typologies or any(t in f.typologies for t in typologies)
