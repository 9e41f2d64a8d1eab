"""The territorial index kept with the dispatch state (issue 22).

When an actor is added or changes its filters, the demands it concerns are those wishing
a commune of its old or new territory. To find them without reading every stored state,
each active demand has, beside its state, one **index entry per commune key** it falls
under (``c:<INSEE>`` of each wished commune, and of the current commune an arrondissement
or commune déléguée belongs to; ``w:<INSEE>`` of a wished commune that has parts, wished
whole: what an actor registered on one of its parts wants, :mod:`hub.domain.matching`):

    key   = b"\\x00t:" + b"c:<INSEE>" + b"\\x00" + numéro unique
    value = b"<rank>|<typologies, comma separated>|<every commune key of the demand>=<rank>,..."

``rank`` is the commune's first position in the wishes (0 = first choice); with the
typologies it is all a filter needs to tell whether an actor wants the demand. The third
part (the demand's *siblings*: all its commune keys with their ranks, up to
:data:`MAX_SIBLINGS`) lets a re-dispatch decide a demand wishing several communes of a
territory once, at its first entry in key order, with one state read, instead of once
per entry (entries written before it have no third part: decided per entry, as before). Entries
are written with the state, in the same changelog partition, so a worker's recovery
restores them with the states (no rebuild, no full scan). A radiated or deleted demand
has none (no actor change concerns it).

:func:`actor_keys` expands an actor's filters to the commune keys to scan (an EPCI or a
département to its communes), :func:`wants` decides on the entries found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hub.domain.actors import ActorFilters
from hub.domain.matching import TerritoryIndex, today_code, whole_of_parts
from hub.domain.state import DemandeState, wished_communes, wished_typologies

#: prefix of every index key (no numéro unique starts with a NUL byte)
PREFIX = b"\x00t:"


def marker(partition: int) -> bytes:
    """Written once ``partition``'s index holds every active demand (dispatch.redispatch);
    the partition is in the key: the memory store keeps every partition in one dict.
    Generation 2 (``t-complete2``): the ``w:`` keys of demands wishing a whole commune
    that has parts (audit P, F1); a partition indexed before them has the former marker
    only, so its next actor change runs the one-time upgrade pass again, which writes
    them and sends the copies owed to actors registered on parts (dispatch.upgrade).
    Its value is the geography the entries and recipients were computed with
    (:func:`geography_id`): see :func:`indexed`."""
    return b"\x00t-complete2:%d" % partition


def geography_id(geography: Any) -> bytes:
    """The identity of a geography (its table's and successor table's sources): what a
    partition's marker holds."""
    source = getattr(geography, "source_version", "")
    successors = getattr(geography, "successors_version", "")
    return f"{source}|{successors}".encode()


def indexed(marker_value: bytes | None, geography: Any) -> bool:
    """Whether a partition whose marker holds ``marker_value`` is indexed for
    ``geography``. A marker of another geography (a release with next year's INSEE table:
    communes merged, moved to another EPCI) is not: the partition's next actor change runs
    the one-time upgrade pass again, which matches every active demand against the actors
    with today's geography (copies and withdrawals where they differ) and rewrites its
    entries (independent audit P, F2)."""
    return marker_value is not None and marker_value == geography_id(geography)


#: index key -> value, for one demand
Entries = Mapping[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Hit:
    """One demand found under one commune key."""

    commune_key: str
    rank: int
    typologies: frozenset[str]


def entry_key(commune_key: str, num_unique: str) -> bytes:
    return PREFIX + commune_key.encode() + b"\x00" + num_unique.encode()


def scan_prefix(commune_key: str) -> bytes:
    """The prefix of every entry under ``commune_key``."""
    return PREFIX + commune_key.encode() + b"\x00"


#: a demand with more commune keys than this has no siblings in its entries (each entry
#: would carry them all: quadratic in the wishes)
MAX_SIBLINGS = 16


def parse(key: bytes, value: bytes) -> tuple[str, Hit]:
    """(numéro unique, hit) of one stored entry."""
    num, hit, _ = parse_all(key, value)
    return num, hit


def parse_all(key: bytes, value: bytes) -> tuple[str, Hit, tuple[Hit, ...] | None]:
    """(numéro unique, hit, the demand's hits under every one of its commune keys, or None
    when the entry does not carry them) of one stored entry."""
    commune_key, _, num = key[len(PREFIX) :].partition(b"\x00")
    rank, _, rest = value.partition(b"|")
    typos_raw, bar, siblings_raw = rest.partition(b"|")
    typos = frozenset(typos_raw.decode().split(",")) - {""}
    hit = Hit(commune_key.decode(), int(rank), typos)
    if not bar:
        return num.decode(), hit, None
    siblings = []
    for item in siblings_raw.decode().split(","):
        k, _, r = item.partition("=")
        siblings.append(Hit(k, int(r), typos))
    return num.decode(), hit, tuple(siblings)


def entries(state: DemandeState | None, index: TerritoryIndex) -> dict[bytes, bytes]:
    """The index entries of ``state`` (none when absent or not active)."""
    if state is None or not state.active:
        return {}
    typos = ",".join(sorted(set(wished_typologies(state.demande)))).encode()
    ranks: dict[str, int] = {}
    for rank, commune in enumerate(wished_communes(state.demande)):
        try:
            keys = index.place_keys(commune)
        except Exception:  # a code the geography no longer knows: not indexed
            continue
        for key in keys:
            if key.startswith(("c:", "w:")) and key not in ranks:  # its first (best) rank
                ranks[key] = rank
    siblings = b""
    if len(ranks) <= MAX_SIBLINGS:
        siblings = b"|" + ",".join(f"{k}={r}" for k, r in sorted(ranks.items())).encode()
    return {entry_key(k, state.num_unique): b"%d|%s%s" % (r, typos, siblings)
            for k, r in ranks.items()}  # fmt: skip


def diff(before: Entries, after: Entries) -> Iterable[tuple[bytes, bytes | None]]:
    """The writes that turn ``before`` into ``after`` (None: delete)."""
    for key in before.keys() - after.keys():
        yield key, None
    for key, value in after.items():
        if before.get(key) != value:
            yield key, value


def actor_keys(filters: ActorFilters | None, geography: Any) -> frozenset[str]:
    """The commune keys whose entries an actor with ``filters`` may want."""
    if filters is None:
        return frozenset()
    return _actor_keys(tuple(filters.communes), tuple(filters.epcis),
                       tuple(filters.departements), geography)  # fmt: skip


@lru_cache(maxsize=4096)
def _actor_keys(communes: tuple[str, ...], epcis: tuple[str, ...],
                departements: tuple[str, ...], geography: Any) -> frozenset[str]:  # fmt: skip
    today = [today_code(c, geography) for c in communes]
    codes: set[str] = set(today)
    for e in epcis:
        codes |= geography.communes_of_epci(e)
    for d in departements:
        codes |= geography.communes_of_departement(d)
    # an actor on a part wants the whole's demands (an EPCI or a département holds the
    # whole commune already: its c: key finds them)
    wholes = whole_of_parts(today, geography)
    return frozenset([f"c:{c}" for c in codes] + [f"w:{w}" for w in wholes])


def wants(filters: ActorFilters | None, keys: frozenset[str], hits: Iterable[Hit]) -> bool:
    """Whether an actor with ``filters`` (commune keys ``keys``) wants a demand found with
    ``hits`` — the same rule as :meth:`TerritoryIndex.matches`: a wished commune in its
    territory, first choice only if so filtered, one typology in common if it has any."""
    if filters is None:
        return False
    accepted = frozenset(filters.typologies) if filters.typologies else None
    for hit in hits:
        if hit.commune_key not in keys:
            continue
        if filters.premier_choix_seulement and hit.rank > 0:
            continue
        if accepted is None or hit.typologies & accepted:
            return True
    return False
