"""The worker's declarations port (dispatch/declarations.py) on a real database (SQLite
and PostgreSQL), fed by the API's own store: per criterion the latest declaration
recorded at or before the cutoff; the cache reads the database once per interval, and
an answer for a cutoff before what it has read never changes (a replay reads the same)."""

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
    port = CachedDeclarations(engine, min_interval_s=0.0)
    assert port.refresh() == 0
    assert port(NUM, EPCI, 2**41) == {}
