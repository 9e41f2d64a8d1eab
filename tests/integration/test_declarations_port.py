"""The worker's scoring ports on a real database (SQLite and PostgreSQL). Declarations
(dispatch/declarations.py), fed by the API's own store: per criterion the latest
declaration recorded at or before the cutoff; the cache reads the database once per
interval, and an answer for a cutoff before what it has read never changes (a replay
reads the same). Quartile thresholds (dispatch/scoring_ports.py): the statistics store
asked once per EPCI and TTL, a failure answered with what was known."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import select

from dispatch.declarations import CachedDeclarations
from hub.stores.cotation.store import DeclarationStore, NewDeclaration
from hub.stores.cotation.tables import cotation_declarations

NUM, OTHER, EPCI = "076112500000910691", "076112500000810691", "200023414"


def _new(
    critere: str, valeur: bool, num: str = NUM, auteur: str = "rouen-habitat"
) -> NewDeclaration:
    return NewDeclaration(num_unique=num, epci=EPCI, critere=critere, valeur=valeur,
                          auteur=auteur, date_declaration=dt.date(2025, 8, 20))  # fmt: skip


def _recorded_ms(engine: Any) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(select(cotation_declarations.c.recorded_at)
                            .order_by(cotation_declarations.c.seq)).scalars().all()  # fmt: skip
    return [int((r if r.tzinfo else r.replace(tzinfo=dt.UTC)).timestamp() * 1000) for r in rows]


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_latest_declaration_as_of_the_cutoff(migrated_db: tuple[str, Any]) -> None:
    _url, engine = migrated_db
    store = DeclarationStore(engine)
    store.declare(_new("JEUNE_ASE", True))
    store.declare(_new("JEUNE_ASE", False, auteur="ville-rouen"))
    store.declare(_new("SORTIE_ACT", True))
    store.declare(_new("SORTIE_ACT", True, num=OTHER))
    first, second, third, _ = _recorded_ms(engine)
    port = CachedDeclarations(engine, min_interval_s=0.0, margin_s=0.0)
    assert port(NUM, EPCI, first - 1) == {}
    assert {c: (d.valeur, d.auteur) for c, d in port(NUM, EPCI, first).items()} == {
        "JEUNE_ASE": (True, "rouen-habitat")
    }
    late = port(NUM, EPCI, third + 10_000)
    assert {c: (d.valeur, d.auteur) for c, d in late.items()} == {
        "JEUNE_ASE": (False, "ville-rouen"),
        "SORTIE_ACT": (True, "rouen-habitat"),
    }
    assert second <= third
    assert port(NUM, "200084952", third + 10_000) == {}
    assert set(port(OTHER, EPCI, third + 10_000)) == {"SORTIE_ACT"}


def test_the_cache_reads_the_database_once_per_interval(migrated_db: tuple[str, Any]) -> None:
    _url, engine = migrated_db
    clock = _Clock()
    port = CachedDeclarations(engine, min_interval_s=5.0, margin_s=0.0, clock=clock)
    store = DeclarationStore(engine)
    assert port(NUM, EPCI, 2**41) == {}  # first call: reads (nothing yet)
    store.declare(_new("JEUNE_ASE", True))
    assert port(NUM, EPCI, 2**41) == {}  # within the interval: the cache answers
    clock.now += 5.0
    assert set(port(NUM, EPCI, 2**41)) == {"JEUNE_ASE"}  # read again
    # a cutoff before what was read never triggers a read: the answer cannot move
    (recorded,) = _recorded_ms(engine)
    store.declare(_new("SORTIE_ACT", True))
    clock.now += 5.0
    assert set(port(NUM, EPCI, recorded)) == {"JEUNE_ASE"}
    assert port.refresh() == 1
    assert set(port(NUM, EPCI, recorded)) == {"JEUNE_ASE"}  # the later one is after it


def test_an_unreadable_database_leaves_the_cache_answering(tmp_path: Any) -> None:
    from hub.core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated: no table
    clock = _Clock()
    port = CachedDeclarations(engine, min_interval_s=0.0, clock=clock)
    assert port.refresh() == 0
    assert port(NUM, EPCI, 2**41) == {}
    # tried again after a back-off doubling from 1 s, not at every call
    clock.now += 100.0
    fresh = CachedDeclarations(engine, min_interval_s=0.0, clock=clock)
    tries: list[float] = []
    real = fresh.refresh

    def counted() -> int:
        tries.append(clock.now)
        return real()

    fresh.refresh = counted  # type: ignore[method-assign]
    start = clock.now
    for _ in range(20):  # 10 s of calls, one every 0.5 s
        assert fresh(NUM, EPCI, 2**41) == {}
        clock.now += 0.5
    assert [t - start for t in tries] == [0.0, 1.0, 3.0, 7.0]
    from dispatch.declarations import MAX_BACKOFF_S

    failing = CachedDeclarations(engine, min_interval_s=0.0, clock=clock)
    for _ in range(12):
        failing.refresh()
    assert failing._wait == MAX_BACKOFF_S


def test_the_quartile_port_asks_the_statistics_store_once_per_ttl(
    migrated_db: tuple[str, Any],
) -> None:
    from dispatch.scoring_ports import CachedSeuils
    from hub.domain.cotation import SeuilsQuartiles
    from hub.stores.statistics.store import StatisticsStore

    _url, engine = migrated_db
    real = StatisticsStore(engine)
    asked: list[str] = []
    answers: list[SeuilsQuartiles | Exception | None] = [
        SeuilsQuartiles(800, 1100), RuntimeError("down"), RuntimeError("down")]  # fmt: skip

    def source(epci: str) -> SeuilsQuartiles | None:
        asked.append(epci)
        if len(asked) == 1:
            return real(epci)  # the real store: no facts folded, so unknown
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = _Clock()
    port = CachedSeuils(source, ttl_s=60.0, clock=clock)
    assert port(EPCI) is None and port(EPCI) is None and asked == [EPCI]
    clock.now += 60.0
    assert port(EPCI) == SeuilsQuartiles(800, 1100)
    assert port("200084952") is None  # another EPCI, whose store read fails: unknown
    clock.now += 60.0
    assert port(EPCI) == SeuilsQuartiles(800, 1100)  # the read fails: the last answer kept
    assert asked == [EPCI, EPCI, "200084952", EPCI]
