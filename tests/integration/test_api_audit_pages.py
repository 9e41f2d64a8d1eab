"""``GET /audit`` page by page (independent audit K, F7): the answer was the 1,000 oldest
rows with nothing saying it was cut, and no way to read further. Now ``limit`` (at most
1,000, the default) and ``cursor``, with ``nextCursor`` while rows follow: every row is
read once, in the order recorded, rows appended between pages included, on SQLite and
PostgreSQL (``migrated_db``), with more rows than one page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hub.core.db import write_transaction
from hub.core.settings import HubSettings
from hub.stores.audit import chain
from hub.stores.audit.store import row_of
from hub.stores.audit.tables import audit_deliveries
from tests.integration.api_support import Caller, register

pytestmark = pytest.mark.kafka  # the API's settings name the test broker (nothing is sent)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def append(engine: Engine, rows: list[tuple[str, str, int]]) -> None:
    """Audit rows (actor, numéro, version), through the hash chain as the hub writes them."""
    def record(num: str, version: int) -> dict[str, Any]:
        return {"numUnique": num, "demandeVersion": version, "profile": "consultant_demande",
                "kind": "DEMANDE"}  # fmt: skip

    with write_transaction(engine) as conn:
        chain.append(conn, [row_of(actor, "api", record(num, version),
                                   T0 + timedelta(seconds=version))
                            for actor, num, version in rows])  # fmt: skip


@pytest.fixture
def world(settings: HubSettings, migrated_db: tuple[str, Engine]
          ) -> Iterator[tuple[TestClient, Engine, Caller, Caller]]:  # fmt: skip
    from hub.api.app import create_app

    engine = migrated_db[1]
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine, register(engine, kind="etat"), register(engine)


def read_all(client: TestClient, who: Caller, query: str = "", between: Any = None
             ) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """Every row, following nextCursor; and the number of pages."""
    rows: list[dict[str, Any]] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None:
        r = client.get(f"/audit?cursor={cursor}{query}", headers=who.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"deliveries", "nextCursor"}
        rows += body["deliveries"]
        pages += 1
        cursor = body["nextCursor"]
        if between is not None:
            between(pages)
    return rows, pages


def versions(rows: list[dict[str, Any]]) -> list[int]:
    return [r["demandeVersion"] for r in rows]


def test_every_row_is_read_once_in_order_page_by_page(
        world: tuple[TestClient, Engine, Caller, Caller]) -> None:  # fmt: skip
    client, engine, etat, landlord = world
    other = "t-other-actor"
    # 2,500 rows, one in five the landlord's, versions numbering them in recording order
    append(engine, [(landlord.actor.id if v % 5 == 0 else other, "076112500012310691", v)
                    for v in range(1, 2501)])  # fmt: skip

    first = client.get("/audit", headers=etat.headers).json()
    assert versions(first["deliveries"]) == list(range(1, 1001))  # the default page: 1,000
    assert first["nextCursor"] is not None  # and it says more rows follow

    everything, pages = read_all(client, etat)
    assert versions(everything) == list(range(1, 2501)) and pages == 3
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(audit_deliveries)) == 2500

    own, pages = read_all(client, landlord, "&limit=120")
    assert versions(own) == list(range(5, 2501, 5)) and pages == 5  # 500 rows: 120 a page
    assert {r["actorId"] for r in own} == {landlord.actor.id}
    # the filters page too: the etat's view of the landlord, of one demand
    assert read_all(client, etat, f"&actorId={landlord.actor.id}&limit=77")[0] == own
    assert versions(read_all(client, etat, "&numUnique=076112500012310691&limit=999")[0]) \
        == list(range(1, 2501))  # fmt: skip

    # a page that holds exactly the last rows says nothing follows: no empty page to ask
    exact, pages = read_all(client, landlord, "&limit=500")
    assert exact == own and pages == 1


def test_rows_recorded_between_pages_are_read_not_skipped(
        world: tuple[TestClient, Engine, Caller, Caller]) -> None:  # fmt: skip
    client, engine, etat, _ = world
    append(engine, [("t-a", "076112500012310691", v) for v in range(1, 251)])

    def more(page: int) -> None:
        if page <= 3:  # new deliveries while a reader pages through
            append(engine, [("t-a", "076112500012310691", 1000 * page + v) for v in range(30)])

    rows, _ = read_all(client, etat, "&limit=100", between=more)
    expected = list(range(1, 251)) + [1000 * p + v for p in (1, 2, 3) for v in range(30)]
    assert versions(rows) == expected


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "cursor=-1", "cursor=x",
                                   "cursor=2147483648"])  # fmt: skip
def test_out_of_bounds_paging_is_refused(
        world: tuple[TestClient, Engine, Caller, Caller], query: str) -> None:  # fmt: skip
    client, _, etat, _ = world
    r = client.get(f"/audit?{query}", headers=etat.headers)
    assert r.status_code == 422, r.text


def test_a_cursor_past_the_end_is_an_empty_last_page(
        world: tuple[TestClient, Engine, Caller, Caller]) -> None:  # fmt: skip
    client, engine, etat, _ = world
    append(engine, [("t-a", "076112500012310691", 1)])
    for cursor in (1000000, 2**31 - 1):  # the highest (PostgreSQL's seq is 32 bits)
        body = client.get(f"/audit?cursor={cursor}", headers=etat.headers).json()
        assert body == {"deliveries": [], "nextCursor": None}
