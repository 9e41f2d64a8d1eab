"""The declarations store on a real database (SQLite and PostgreSQL): the latest
declaration of a criterion is in force, ids make retries idempotent, and the purge job
removes a purged demand's declarations and snapshot offsets."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select

from hub.core.errors import ConflictError
from hub.services.purge import purge_sql
from hub.stores.cotation.store import DeclarationStore, NewDeclaration
from hub.stores.cotation.tables import api_snapshot_offsets, cotation_declarations

NUM, OTHER, EPCI = "076112500000110691", "076112500000210691", "200023414"


def _new(critere: str, valeur: bool, num: str = NUM, **kw: Any) -> NewDeclaration:
    return NewDeclaration(num_unique=num, epci=EPCI, critere=critere, valeur=valeur,
                          auteur="rouen-habitat", date_declaration=date(2025, 8, 20), **kw)


def test_latest_declaration_is_in_force_and_ids_are_idempotent(
        migrated_db: tuple[str, Any]) -> None:
    _url, engine = migrated_db
    store = DeclarationStore(engine)
    assert store.in_force(NUM, EPCI) == {}
    first, created = store.declare(_new("JEUNE_ASE", True, declaration_id="d-1"))
    assert created and first["valeur"] is True
    again, created = store.declare(_new("JEUNE_ASE", True, declaration_id="d-1"))
    assert (again, created) == (first, False)
    with pytest.raises(ConflictError):
        store.declare(_new("JEUNE_ASE", False, declaration_id="d-1"))
    store.declare(_new("JEUNE_ASE", False))
    store.declare(_new("SORTIE_ACT", True))
    store.declare(_new("SORTIE_ACT", True, num=OTHER))
    in_force = store.in_force(NUM, EPCI)
    assert {c: d.valeur for c, d in in_force.items()} == {"JEUNE_ASE": False,
                                                           "SORTIE_ACT": True}
    assert store.in_force(NUM, "200084952") == {}


def test_purge_removes_a_demands_declarations_and_offsets(
        migrated_db: tuple[str, Any]) -> None:
    url, engine = migrated_db
    store = DeclarationStore(engine)
    store.declare(_new("JEUNE_ASE", True))
    store.declare(_new("JEUNE_ASE", True, num=OTHER))
    with engine.begin() as conn:
        conn.execute(insert(api_snapshot_offsets), [
            {"actor_id": "a", "num_unique": n, "feed_offset": 3, "demande_version": 1}
            for n in (NUM, OTHER)])
    counts = purge_sql(url, [NUM])
    assert counts["cotation_declarations"] == counts["api_snapshot_offsets"] == 1
    with engine.connect() as conn:
        assert {r.num_unique for r in conn.execute(select(cotation_declarations))} == {OTHER}
        assert {r.num_unique for r in conn.execute(select(api_snapshot_offsets))} == {OTHER}
