"""Cotation declarations on a real database (SQLite and PostgreSQL), independent audit N:

* N9 — a declaration belongs to the life of the demand it was made for (its snapshot's
  ``dateCreationDemande``, README §Lifecycle: a ``SUP`` then a ``CRE`` on the numéro is a
  new demand; a renewal keeps the number and seniority, so the creation day): the API's
  store and the worker's port count it only for that demand; a row of unknown life
  (written before revision 0015) only for a demand created on or before its day;
* N10 — with a day, the store gives the declarations in force that day: the latest one of
  each criterion dated on or before it (a later withdrawal does not reach back);
* revision 0015 over a 0014 database: existing rows kept, of unknown life; down and up.

Criteria of the Métropole Rouen Normandie grid (README §Cotation): REPRISE_ACTIVITE
"resuming work after long-term unemployment", JEUNE_ASE "young people in child welfare"."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from dispatch.declarations import CachedDeclarations
from hub.core.db import alembic_config, migrate, write_transaction
from hub.stores.cotation.store import DeclarationStore, NewDeclaration
from tests.support.postgres import unmigrated_engine

NUM, EPCI = "076112500004210691", "200023414"
FIRST, SECOND = dt.date(2024, 1, 15), dt.date(2026, 11, 30)  # the two demands' creations


def _new(critere: str, valeur: bool, on: dt.date, life: dt.date | None) -> NewDeclaration:
    return NewDeclaration(num_unique=NUM, epci=EPCI, critere=critere, valeur=valeur,
                          auteur="rouen-habitat", date_declaration=on,
                          demande_creee=life)  # fmt: skip


def _valeurs(found: Any) -> dict[str, bool]:
    return {c: d.valeur for c, d in found.items()}


def test_a_declaration_counts_for_its_demand_only(migrated_db: tuple[str, Any]) -> None:
    _url, engine = migrated_db
    store = DeclarationStore(engine)
    out, _ = store.declare(_new("REPRISE_ACTIVITE", True, dt.date(2025, 3, 1), FIRST))
    assert out["dateCreationDemande"] == "2024-01-15"
    assert _valeurs(store.in_force(NUM, EPCI, FIRST)) == {"REPRISE_ACTIVITE": True}
    # deleted, then a new demand on the numéro: nothing of the first one's
    assert store.in_force(NUM, EPCI, SECOND) == {}
    store.declare(_new("JEUNE_ASE", True, dt.date(2026, 12, 1), SECOND))
    assert _valeurs(store.in_force(NUM, EPCI, SECOND)) == {"JEUNE_ASE": True}
    assert _valeurs(store.in_force(NUM, EPCI, FIRST)) == {"REPRISE_ACTIVITE": True}

    port = CachedDeclarations(engine)
    late = int(time.time() * 1000) + 60_000
    assert _valeurs(port(NUM, EPCI, late, FIRST)) == {"REPRISE_ACTIVITE": True}
    assert _valeurs(port(NUM, EPCI, late, SECOND)) == {"JEUNE_ASE": True}


def test_a_declaration_of_unknown_life_counts_for_a_demand_created_before_it(
        migrated_db: tuple[str, Any]) -> None:  # fmt: skip
    _url, engine = migrated_db
    store = DeclarationStore(engine)
    store.declare(_new("REPRISE_ACTIVITE", True, dt.date(2025, 3, 1), None))
    assert set(store.in_force(NUM, EPCI, FIRST)) == {"REPRISE_ACTIVITE"}
    assert set(store.in_force(NUM, EPCI, None)) == {"REPRISE_ACTIVITE"}
    assert store.in_force(NUM, EPCI, SECOND) == {}  # created after it: not its demand
    port = CachedDeclarations(engine)
    late = int(time.time() * 1000) + 60_000
    assert set(port(NUM, EPCI, late, FIRST)) == {"REPRISE_ACTIVITE"}
    assert port(NUM, EPCI, late, SECOND) == {}


def test_with_a_day_only_the_declarations_in_force_that_day(
        migrated_db: tuple[str, Any]) -> None:  # fmt: skip
    _url, engine = migrated_db
    store = DeclarationStore(engine)
    store.declare(_new("REPRISE_ACTIVITE", True, dt.date(2025, 3, 1), FIRST))
    store.declare(_new("JEUNE_ASE", True, dt.date(2025, 6, 1), FIRST))
    store.declare(_new("REPRISE_ACTIVITE", False, dt.date(2025, 9, 1), FIRST))  # withdrawn

    def on(day: dt.date) -> dict[str, bool]:
        return _valeurs(store.in_force(NUM, EPCI, FIRST, day))

    assert on(dt.date(2025, 2, 28)) == {}
    assert on(dt.date(2025, 3, 1)) == {"REPRISE_ACTIVITE": True}
    assert on(dt.date(2025, 8, 31)) == {"REPRISE_ACTIVITE": True, "JEUNE_ASE": True}
    assert on(dt.date(2025, 9, 1)) == {"REPRISE_ACTIVITE": False, "JEUNE_ASE": True}
    assert _valeurs(store.in_force(NUM, EPCI, FIRST)) == on(dt.date(2026, 1, 1))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_0015_over_0014_declarations(kind: str, tmp_path: Path) -> None:
    with unmigrated_engine(kind, tmp_path, "declaration_life") as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), "0014_removed_actor_keys")
        with engine.begin() as conn:  # a row as the code of 0014 wrote it
            conn.execute(text(
                "INSERT INTO cotation_declarations (declaration_id, num_unique, epci, critere,"
                " valeur, auteur, date_declaration, commentaire, recorded_at) VALUES ('d-old',"
                " :num, :epci, 'REPRISE_ACTIVITE', :t, 'rouen-habitat', :on, NULL, :at)"),
                {"num": NUM, "epci": EPCI, "t": True, "on": dt.date(2025, 3, 1),
                 "at": dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)})  # fmt: skip
        migrate(engine)
        store = DeclarationStore(engine)
        assert set(store.in_force(NUM, EPCI, FIRST)) == {"REPRISE_ACTIVITE"}
        assert store.in_force(NUM, EPCI, SECOND) == {}
        store.declare(_new("JEUNE_ASE", True, dt.date(2026, 12, 1), SECOND))
        assert set(store.in_force(NUM, EPCI, SECOND)) == {"JEUNE_ASE"}

        with write_transaction(engine) as conn:
            command.downgrade(alembic_config(conn), "0014_removed_actor_keys")
        columns = {c["name"] for c in inspect(engine).get_columns("cotation_declarations")}
        assert "demande_creee" not in columns and "date_declaration" in columns
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT declaration_id, critere FROM cotation_declarations"
                                    " ORDER BY seq")).all()  # fmt: skip
        assert [tuple(r) for r in ids] == [("d-old", "REPRISE_ACTIVITE"), (None, "JEUNE_ASE")]
        migrate(engine)  # up again: every row of unknown life
        with engine.connect() as conn:
            lives = conn.execute(text("SELECT demande_creee FROM cotation_declarations")).all()
        assert [r[0] for r in lives] == [None, None]
