"""The copies a W4 scenario owes over a W4 stock, counted without a broker or a worker.

``python -m bench.owed --stock 1900000 --scenario bulk2000``  (~4 min at 1.9 M here)

Why: a scenario too long to run at the national size (the 2,000-office import at 1.9 M
did not finish in 58 min, docs/performance.md) is projected from a cost per copy, and the
projection is only as good as its number of copies. This counts them from the same draws
as :mod:`bench.w4`: the stock's chunks of :func:`bench.data.demand_events` (the first
draw of a numéro unique kept, as the worker keeps it: a second creation is refused) and
the scenario's actors of :func:`bench.w4.scenario_actors`, matched by
:class:`hub.domain.matching.TerritoryIndex` (``reliability.ledger.in_scope``, written
apart, agrees: tests/unit/test_bench_owed.py).
Only the wishes and typologies of each demand are kept (~200 bytes each).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.data import demand_events
from bench.w4 import SCENARIOS, W4Config, scenario_actors
from hub.domain.actors import Actor
from hub.domain.geo import Geography, get_geography
from hub.domain.matching import TerritoryIndex

Wishes = tuple[tuple[str, ...], tuple[str, ...]]


def stock_wishes(cfg: W4Config, geo: Geography, progress: bool = False) -> dict[str, Wishes]:
    """numéro unique -> (wished communes in order, typologies) of the W4 stock of
    ``cfg.stock`` demands, drawn as :func:`bench.w4.load_stock` draws it."""
    latest: dict[str, Wishes] = {}
    t0 = time.monotonic()
    for i, start in enumerate(range(0, cfg.stock, cfg.chunk)):
        n = min(cfg.chunk, cfg.stock - start)
        for e in demand_events(n, cfg.seed * 100_000 + i, geo):
            lr = e["demande"]["demandeLogement"]["logementRecherche"]
            latest.setdefault(
                e["numUnique"],
                (
                    tuple(w["commune"] for w in lr["listeLocalisationSouhaite"]),
                    tuple(lr["listeTypeLogement"]),
                ),
            )
        if progress and i % 20 == 0:
            print(f"{start + n:,} drawn in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return latest


def owed(actors: list[Actor], wishes: dict[str, Wishes], geo: Geography) -> Counter[str]:
    """Copies owed per actor: the demands of ``wishes`` each actor's filters accept."""
    index = TerritoryIndex(geo, actors)
    per: Counter[str] = Counter()
    for communes, typologies in wishes.values():
        per.update(index.match(communes, typologies, skip_unknown=True))
    return per


def _rows(per: Counter[str], stock: int, demands: int, actors: int) -> Iterator[tuple[str, Any]]:
    yield "stock", stock
    yield "distinct_demands", demands
    yield "actors", actors
    yield "copies_owed", sum(per.values())
    yield "actors_owed_some", len(per)
    yield "largest", per.most_common(1)[0] if per else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.owed", description=__doc__.split("\n")[0])
    p.add_argument("--stock", type=int, required=True, metavar="N")
    p.add_argument("--scenario", choices=SCENARIOS, default="bulk2000")
    p.add_argument("--seed", type=int, default=W4Config.seed)
    args = p.parse_args(argv)
    geo = get_geography()
    cfg = W4Config(stock=args.stock, seed=args.seed)
    actors = scenario_actors(cfg, geo)[args.scenario]
    wishes = stock_wishes(cfg, geo, progress=True)
    per = owed(actors, wishes, geo)
    result = dict(_rows(per, cfg.stock, len(wishes), len(actors)), scenario=args.scenario)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
