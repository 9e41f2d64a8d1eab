"""Where generated demands wish to live: population-weighted pools of the wishable
communes of the requested territory (per EPCI too), and the territory of a numéro unique."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from hub.core.errors import InputError
from hub.domain.geo import Geography


@dataclass(frozen=True, slots=True)
class Pool:
    """Codes with cumulative population weights, for O(log n) weighted draws."""

    codes: tuple[str, ...]
    cum: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.codes, cum_weights=self.cum)[0]


def pool_of(geo: Geography, codes: Iterable[str]) -> Pool:
    acc = 0.0
    out: list[str] = []
    cum: list[float] = []
    for code in sorted(codes):  # sorted: frozenset order varies with PYTHONHASHSEED
        acc += geo.population(code)
        out.append(code)
        cum.append(acc)
    return Pool(tuple(out), tuple(cum))


@dataclass(slots=True)
class Area:
    """The wishable communes of the requested territory, and per-EPCI sub-pools."""

    geo: Geography
    wishable: frozenset[str]
    pool: Pool
    by_epci: dict[str, Pool] = field(default_factory=dict)

    def epci_pool(self, code: str) -> Pool:
        """Pool of the wishable communes of the EPCI of ``code`` (within the area)."""
        epci = self.geo.commune(code).epci
        if epci is None:
            return Pool((code,), (1.0,))
        pool = self.by_epci.get(epci)
        if pool is None:
            members = self.geo.communes_of_epci(epci) & self.wishable
            pool = pool_of(self.geo, members) if members else Pool((code,), (1.0,))
            self.by_epci[epci] = pool
        return pool


@lru_cache(maxsize=128)
def area_of(geo: Geography, departements: tuple[str, ...] | None, epci: str | None) -> Area:
    if epci is not None:
        if not geo.epci_exists(epci):
            raise InputError(f"unknown EPCI SIREN {epci!r}")
        codes = geo.communes_of_epci(epci)
        if departements:
            codes = codes & frozenset().union(
                *(geo.communes_of_departement(d) for d in departements)
            )
    elif departements:
        unknown = [d for d in departements if not geo.departement_exists(d)]
        if unknown:
            raise InputError(f"unknown département(s) {', '.join(unknown)}")
        codes = frozenset().union(*(geo.communes_of_departement(d) for d in departements))
    else:
        codes = geo.communes()
    # Wishable: places with a population, i.e. current communes and arrondissements (the
    # déléguées have none). A city split in arrondissements is wished by arrondissement.
    populated = [c for c in codes if geo.population(c) > 0]
    split = {geo.commune(c).parent for c in populated if geo.commune(c).parent}
    wishable = frozenset(c for c in populated if c not in split)
    if not wishable:
        raise InputError("no inhabited commune in the requested territory")
    return Area(geo, wishable, pool_of(geo, wishable))


def territory_prefix(departement: str) -> str:
    """The 3-character territory prefix of a numéro unique: the département on 3 characters."""
    return departement.rjust(3, "0")  # "76" -> "076", "2A" -> "02A", "974" -> "974"


@lru_cache(maxsize=256)
def guichets_of(departement: str) -> tuple[str, ...]:
    # A territory's registering offices do not depend on the seed: derive them from the
    # département (str seeds are hashed with SHA-512, stable across processes).
    rng = random.Random(f"guichets-{departement}")
    return tuple(f"{rng.randrange(10000, 100000)}" for _ in range(8))
