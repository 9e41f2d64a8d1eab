"""Micro-benchmark of territorial matching at 10, 1,000 and 10,000 registered actors.

The target compares the cost of matching one demand as the *registered* actor count grows,
the recipients staying the same: demands of one département (76) always have the same 10
recipients (actors on that département), and the other registered actors are drawn with
the national mix outside it. A second series ("national") draws every actor with the
national mix: there, recipients grow with the actor count, and the cost per recipient is
what should stay flat. Cost = median over repeats of the time to match all demands.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.data import ActorMix, demand_events, fanout_actors, national_actors
from hub.domain.actors import Actor
from hub.domain.geo import Geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import wished_communes, wished_typologies

DEP = "76"


def _touches(geo: Geography, actor: Actor) -> bool:
    f = actor.filters
    return (
        DEP in f.departements
        or any(geo.commune(c).departement == DEP for c in f.communes)
        or any(geo.commune(c).departement == DEP for e in f.epcis for c in geo.communes_of_epci(e))
    )


def _mix(size: int) -> ActorMix:
    return ActorMix(guichets=max(1, size * 4 // 5), landlords=max(0, size - size * 4 // 5))


def _round(index: TerritoryIndex, wishes: list[tuple[list[str], list[str]]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    found = sum(len(index.match(c, t)) for c, t in wishes)
    return time.perf_counter() - t0, found


def _interleaved(
    indexes: list[TerritoryIndex], wishes: list[tuple[list[str], list[str]]], repeats: int
) -> list[tuple[float, float]]:
    """(µs per demand, recipients per demand) of each index: medians over ``repeats``
    rounds, each round timing every index in turn (A/B/C/A/B/C), so a busy moment of the
    machine hits every size alike instead of the one measured then."""
    for index in indexes:  # warm the per-commune caches: steady state only
        _round(index, wishes)
    times: list[list[float]] = [[] for _ in indexes]
    found = [0] * len(indexes)
    for _ in range(repeats):
        for i, index in enumerate(indexes):
            t, found[i] = _round(index, wishes)
            times[i].append(t)
    n = len(wishes)
    return [(statistics.median(ts) / n * 1e6, f / n) for ts, f in zip(times, found, strict=True)]


def matching(
    geo: Geography, sizes: tuple[int, ...], demands: int, repeats: int, seed: int
) -> dict[str, Any]:
    local = [
        (wished_communes(e["demande"]), wished_typologies(e["demande"]))
        for e in demand_events(demands, seed, geo, [DEP])
    ]
    national = [
        (wished_communes(e["demande"]), wished_typologies(e["demande"]))
        for e in demand_events(demands, seed, geo)
    ]
    recipients = fanout_actors(10, DEP, "m")
    others = [a for a in national_actors(geo, seed, _mix(max(sizes) * 2)) if not _touches(geo, a)]
    out: dict[str, Any] = {"demands": demands, "repeats": repeats, "by_actors": {}}
    fixed = [
        TerritoryIndex(geo, recipients[: min(10, size)] + others[: max(0, size - 10)])
        for size in sizes
    ]
    nat = [TerritoryIndex(geo, national_actors(geo, seed, _mix(size))) for size in sizes]
    local_t = _interleaved(fixed, local, repeats)
    nat_t = _interleaved(nat, national, repeats)
    for size, index, (us, rec), (nat_us, nat_rec) in zip(sizes, fixed, local_t, nat_t, strict=True):
        out["by_actors"][str(size)] = {
            "actors": len(index),
            "us_per_demand": round(us, 2),
            "recipients_per_demand": round(rec, 2),
            "national_us_per_demand": round(nat_us, 2),
            "national_recipients_per_demand": round(nat_rec, 2),
            "national_us_per_recipient": round(nat_us / max(nat_rec, 1e-9), 3),
        }
    lo, hi = str(min(sizes)), str(max(sizes))
    rows = out["by_actors"]
    out["ratio_max_to_min"] = round(rows[hi]["us_per_demand"] / rows[lo]["us_per_demand"], 2)
    return out
