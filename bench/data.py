"""Seeded synthetic actors and demand streams for the benchmarks.

Demands come from :func:`hub.dev.generate.generate_demandes` (national draw weighted by
population, 1–8 wished communes in the EPCI of the first choice, consistent households,
valid numéros uniques). Actors are drawn here, reproducibly from a seed:

* ~1,600 registering offices (``guichet``), each on one commune, one EPCI or one
  département, drawn by population (big cities get several offices, as in reality);
* ~400 landlords (``bailleur``), either 1–5 départements (drawn by population, the first
  anchoring the others in its region) or a list of 5–40 communes of one département.

The proportions are calibrated so that a national demand matches ~10 actors on average;
:func:`match_distribution` reports the real distribution for the run.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.dev.generate import generate_demandes
from hub.domain.actors import Actor, ActorFilters, Profile
from hub.domain.geo import Geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import wished_communes, wished_typologies

#: départements an actor filter accepts (``hub.actors``); overseas collectivities are not
_DEP_RE = re.compile(r"^(?:0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-8])$")

PROFILES: tuple[Profile, ...] = ("consultant_simple", "consultant_demande", "consultant_sensible")


@dataclass(frozen=True, slots=True)
class ActorMix:
    """How many actors of each shape (defaults: the national picture of issue 6)."""

    guichets: int = 1600
    landlords: int = 400
    guichet_commune: float = 0.70  # the rest split EPCI / département below
    guichet_epci: float = 0.25
    landlord_departements: float = 0.45  # the rest hold lists of communes


class _Weighted:
    """Codes with population weights (sorted codes: reproducible across processes)."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.codes = sorted(c for c, w in weights.items() if w > 0)
        acc, self.cum = 0, []
        for c in self.codes:
            acc += weights[c]
            self.cum.append(acc)

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.codes, cum_weights=self.cum)[0]


@lru_cache(maxsize=4)
def _weights(geo: Geography) -> tuple[_Weighted, _Weighted, _Weighted]:
    communes = {c: geo.population(c) for c in geo.communes() if geo.commune(c).parent is None}
    epcis: dict[str, int] = {}
    deps: dict[str, int] = {}
    for code, pop in communes.items():
        place = geo.commune(code)
        deps[place.departement] = deps.get(place.departement, 0) + pop
        if place.epci:
            epcis[place.epci] = epcis.get(place.epci, 0) + pop
    deps = {d: w for d, w in deps.items() if _DEP_RE.match(d)}
    return _Weighted(communes), _Weighted(epcis), _Weighted(deps)


def departement_shares(geo: Geography) -> dict[str, float]:
    """Each département's share of the population the demands are drawn by (0..1)."""
    deps = _weights(geo)[2]
    total = deps.cum[-1]
    prev, out = 0, {}
    for code, acc in zip(deps.codes, deps.cum, strict=True):
        out[code] = (acc - prev) / total
        prev = acc
    return out


def national_actors(geo: Geography, seed: int, mix: ActorMix = ActorMix()) -> list[Actor]:
    """The national actor population (see module doc); same seed, same actors."""
    rng = random.Random(f"actors-{seed}")
    communes, epcis, deps = _weights(geo)
    actors: list[Actor] = []
    taken: set[str] = set()  # one office per commune or EPCI (several per département)
    for i in range(mix.guichets):
        draw = rng.random()
        if draw < mix.guichet_commune:
            filters = ActorFilters(communes=[_distinct(communes, rng, taken)])
        elif draw < mix.guichet_commune + mix.guichet_epci:
            filters = ActorFilters(epcis=[_distinct(epcis, rng, taken)])
        else:
            filters = ActorFilters(departements=[deps.pick(rng)])
        actors.append(_actor(f"g{i:04d}", "guichet", filters, rng))
    for i in range(mix.landlords):
        first = deps.pick(rng)
        if rng.random() < mix.landlord_departements:
            region = geo.departement_region(first)
            near = sorted(
                d
                for d in geo.departements()
                if geo.departement_region(d) == region and _DEP_RE.match(d) and d != first
            )
            chosen = {first} | set(rng.sample(near, min(len(near), rng.randint(1, 5) - 1)))
            filters = ActorFilters(departements=sorted(chosen))
        else:
            pool = sorted(
                c
                for c in geo.communes_of_departement(first)
                if geo.population(c) > 0 and geo.commune(c).parent is None
            )
            filters = ActorFilters(communes=rng.sample(pool, min(len(pool), rng.randint(5, 40))))
        actors.append(_actor(f"b{i:03d}", "bailleur", filters, rng))
    return actors


def fanout_actors(n: int, departement: str, prefix: str) -> list[Actor]:
    """``n`` actors all filtering on one département: every demand of it goes to all n."""
    return [
        Actor(
            id=f"{prefix}{i:03d}",
            name=f"fan-out {prefix}{i:03d}",
            kind="bailleur",
            profile=PROFILES[i % len(PROFILES)],
            filters=ActorFilters(departements=[departement]),
            version=1,
        )
        for i in range(n)
    ]


def _distinct(pool: _Weighted, rng: random.Random, taken: set[str]) -> str:
    code = pool.pick(rng)
    for _ in range(1000):  # bounded: past ~1,250 EPCI offices, duplicates are unavoidable
        if code not in taken:
            break
        code = pool.pick(rng)
    taken.add(code)
    return code


def _actor(actor_id: str, kind: str, filters: ActorFilters, rng: random.Random) -> Actor:
    return Actor(
        id=actor_id,
        name=f"{kind} {actor_id}",
        kind=kind,  # type: ignore[arg-type]
        profile=rng.choice(PROFILES),
        filters=filters,
        version=1,
    )


def demand_events(
    n: int, seed: int, geo: Geography, departements: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` demand creations (national unless ``departements``), seeded."""
    return generate_demandes(
        n, seed, geography=geo, departements=list(departements) if departements else None
    )


def match_distribution(index: TerritoryIndex, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Recipients per demand over ``events``: mean, quantiles, min/max, histogram."""
    counts = []
    for ev in events:
        d = ev.get("demande")
        counts.append(len(index.match(wished_communes(d), wished_typologies(d))))
    if not counts:
        return {"demands": 0}
    q = statistics.quantiles(counts, n=100, method="inclusive") if len(counts) > 1 else counts * 99
    hist: dict[str, int] = {}
    for c in counts:
        bucket = str(c) if c < 20 else ("20-49" if c < 50 else "50+")
        hist[bucket] = hist.get(bucket, 0) + 1
    return {
        "demands": len(counts),
        "mean": round(statistics.fmean(counts), 2),
        "p50": q[49],
        "p90": q[89],
        "p99": q[98],
        "min": min(counts),
        "max": max(counts),
        "zero": sum(1 for c in counts if c == 0),
        "histogram": dict(sorted(hist.items(), key=lambda kv: _bucket_order(kv[0]))),
    }


def _bucket_order(bucket: str) -> int:
    return int(bucket.split("-")[0].rstrip("+"))


def write_jsonl(path: Path, events: Iterable[dict[str, Any]]) -> int:
    """Write events one JSON object per line; return the count."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for ev in events:
            out.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n
