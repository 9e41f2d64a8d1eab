"""Cost of secondary secrecy on a statistics request (audit R, R-F2): ``python -m
bench.secrecy [--national 1900000] [--repeat 3]``.

On demand, in-process, over a SQLite facts table. The stock is drawn for the départements
linked to Rouen (76) through the EPCIs spanning several (16 départements, 6,549 communes,
Île-de-France included): each current commune holds its population's share of the national
stock (``--national``), with creation and radiation dates spread over the last 14 months
and a radiation in one demand out of four (attributions for 60 % of them). The facts are
written straight into ``stat_demandes`` (no fold: the fold's cost is not the question).

Timed, in the same run: the figures of the commune of Rouen with the primary rule only
(``statistiques`` over its facts: the baseline, what a request cost before) and with the
decision between territories (``hub.services.statistics.territory``), cold (caches
emptied) and warm (the same counts asked again: another territory of the component), and
the decision's parts (the grouped queries, the 37 series' suppressions). Printed as JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from hub.core.db import make_engine, migrate
from hub.domain import statistics_series
from hub.domain.geo import get_geography
from hub.domain.geo_components import linked_departements, membership, stored_codes
from hub.domain.statistics import SEUIL_SECRET, months, statistiques
from hub.domain.statistics_series import secondary, wanted
from hub.services.statistics import territory
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes

AT = date(2026, 11, 15)
ROUEN = "76540"


def _rows(national: int, seed: int) -> list[dict[str, Any]]:
    geo = get_geography()
    deps = linked_departements(geo, "commune", ROUEN)
    members = membership(geo, deps).table
    everyone = sum(geo.population(c) for c in geo.communes() if geo.commune(c).parent is None)
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for c, (epci, dep) in sorted(members.items()):
        for _ in range(round(national * geo.population(c) / everyone)):
            created = AT - timedelta(days=rnd.randrange(420))
            radiated = rnd.random() < 0.25
            rows.append(
                {
                    "num_unique": f"{len(rows):018d}",
                    "commune": c,
                    "epci": epci,
                    "departement": dep,
                    "typologies": "T3",
                    "date_creation": created,
                    "active": not radiated,
                    "date_radiation": created
                    + timedelta(days=rnd.randrange((AT - created).days + 1))
                    if radiated
                    else None,
                    "motif_radiation": ("RADATT" if rnd.random() < 0.6 else "RADABA")
                    if radiated
                    else None,
                    "last_partition": 0,
                    "last_offset": len(rows),
                    "recent_event_ids": "[]",
                    "updated_at": now,
                }
            )
    return rows


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(national: int, repeat: int, seed: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'stats.db'}")
        migrate(engine)
        rows = _rows(national, seed)
        t_load, _ = _timed(lambda: _load(engine, rows))
        store = StatisticsStore(engine)
        geo = get_geography()
        deps = linked_departements(geo, "commune", ROUEN)
        mois = set(months(AT, 12))
        out: dict[str, Any] = {"facts": len(rows), "load_s": round(t_load, 1), "runs": []}
        for _ in range(repeat):
            statistics_series.forget_decisions()
            base, _s = _timed(
                lambda: statistiques(store.faits("commune", ROUEN), "commune", ROUEN, AT)
            )
            cold, s = _timed(lambda: territory(store, "commune", ROUEN, AT))
            warm, _s = _timed(lambda: territory(store, "commune", "76212", AT))
            codes = stored_codes(geo, membership(geo, deps).table)
            q, counts = _timed(functools.partial(store.series_counts, codes, mois))
            statistics_series.forget_decisions()
            sup, held = _timed(
                functools.partial(
                    secondary,
                    counts,
                    membership(geo, deps),
                    "commune",
                    ROUEN,
                    wanted(mois),
                    SEUIL_SECRET,
                )
            )
            out["runs"].append(
                {
                    "primary_only_s": round(base, 3),
                    "with_secondary_cold_s": round(cold, 3),
                    "with_secondary_warm_s": round(warm, 3),
                    "cold_over_primary": round(cold / base, 2),
                    "grouped_queries_s": round(q, 3),
                    "suppress_37_series_s": round(sup, 3),
                    "rouen_series_withheld": len(held),
                    "rouen_stock_shown": s.stock_actif.valeur,
                }
            )
        engine.dispose()
        return out


def _load(engine: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for i in range(0, len(rows), 50_000):
            conn.execute(insert(stat_demandes), rows[i : i + 50_000])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--national", type=int, default=1_900_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    print(json.dumps(run(a.national, a.repeat), indent=2))


if __name__ == "__main__":
    main()
