"""``hub purge`` removes the SQL rows only of the demands the worker purged (audit R, R-F6),
on SQLite and PostgreSQL: the dispatch state's changelog and Kafka stood in for, the
statistics folded by the real fold, the rows deleted by the real ``purge_sql``.

The second test runs the wait itself against the real broker.

Three demands radiated 14 months ago are purgeable at the scan; meanwhile one is
reactivated (a ``MOD`` of a ``RADABA`` radiation, allowed), which the fold folds and the
worker, reading it before the ``DispatchPurge``, keeps. The worker tombstones another;
it has not reached the third's record when the wait ends. Only the tombstoned one
leaves the statistics (and its other rows); the reactivated one stays in the stock with
its marks and declarations-holding rows, and is not pending; the third stays pending
for the next run, untouched. Before the fix every scanned numéro was deleted: the
reactivated demand left the stock (11 became withheld)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, insert, select

import hub.services.purge as purge
from hub.core.settings import DatabaseSettings, HubSettings
from hub.services.statistics import territory
from hub.services.statistics_folder import Folder
from hub.stores.access.tables import api_holders
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from tests.support.stat_events import event, num, records

CREATED = "2024-09-01"
RAD = {"dateRadiation": "2025-05-01", "motifRadiation": "RADABA"}
AT = date(2026, 6, 30)
KEPT, GONE, LATE = num(0), num(1), num(2)


def test_only_the_demands_the_worker_purged_lose_their_rows(
    migrated_db: tuple[str, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, engine = migrated_db
    store = StatisticsStore(engine)
    folder = Folder(store, DeclarationStore(engine))
    evs = [event(num(i), "CRE", date(2024, 9, 1), created=CREATED) for i in range(13)]
    evs += [event(n, "RAD", date(2025, 5, 1), created=CREATED, radiation=RAD)
            for n in (KEPT, GONE, LATE)]  # fmt: skip
    assert folder.fold(records(evs))["folded"] == 16
    with engine.begin() as conn:
        since = datetime(2024, 9, 1, tzinfo=UTC)
        conn.execute(insert(api_holders), [{"actor_id": "erp", "num_unique": n, "since": since}
                                           for n in (KEPT, GONE, LATE)])  # fmt: skip
    held = frozenset(num(i) for i in range(13))
    # the scan: the three radiated 14 months ago, purgeable; then, after the wait, the
    # worker's changelog: KEPT reactivated (held, not purgeable), GONE tombstoned, LATE
    # not reached yet (held, still purgeable)
    scans = [purge.StateScan(13, [KEPT, GONE, LATE], held),
             purge.StateScan(12, [LATE], held - {GONE})]  # fmt: skip
    asked: list[Any] = []

    async def scan_state(settings: HubSettings, cutoff_ms: int,
                         only: set[str] | None = None) -> purge.StateScan:  # fmt: skip
        found = scans.pop(0)
        kept = [n for n in found.purgeable if only is None or n in only]
        return purge.StateScan(found.scanned, kept, found.held)

    async def request(settings: HubSettings, nums: list[str], cutoff_ms: int) -> dict[int, int]:
        asked.append(("request", nums))
        return {0: 40}

    async def await_worker(settings: HubSettings, last: dict[int, int], timeout_s: float) -> bool:
        asked.append(("wait", last))
        return False  # LATE's record not reached: the changelog says the rest

    monkeypatch.setattr(purge, "scan_state", scan_state)
    monkeypatch.setattr(purge, "request", request)
    monkeypatch.setattr(purge, "await_worker", await_worker, raising=False)  # new in the fix
    # the reactivation, folded while the purge runs (the fold is in its own group)
    assert folder.fold(records([event(KEPT, "MOD", AT, created=CREATED)], 16))["folded"] == 1
    # the département's figure: the commune's own is withheld between territories (its
    # EPCI's other communes hold no demand: docs/statistics.md)
    assert territory(store, "departement", "76", AT).stock_actif.valeur == 11

    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    report = asyncio.run(purge.run_purge(settings, now_ms=int(now.timestamp() * 1000)))

    assert territory(store, "departement", "76", AT).stock_actif.valeur == 11, (
        "the reactivated demand was purged from the statistics")
    assert asked == [("request", [KEPT, GONE, LATE]), ("wait", {0: 40})]
    assert (report.purged, report.kept, report.waiting) == ([KEPT, GONE, LATE], [KEPT], [LATE])
    priors = store.priors([KEPT, GONE, LATE])
    assert set(priors) == {KEPT, LATE} and not priors[KEPT].radiated
    assert priors[KEPT].mark.offset == 16  # its marks kept: its events stay duplicates
    with engine.connect() as conn:
        holders = {r.num_unique for r in conn.execute(select(api_holders.c.num_unique))}
    assert holders == {KEPT, LATE}
    assert report.sql_rows["stat_demandes"] == 1 and report.sql_rows["api_holders"] == 1
    assert purge.pending(settings) == {LATE}  # the next run asks the worker again


def test_the_purge_waits_for_the_workers_group_on_the_real_broker(settings: HubSettings) -> None:
    """``await_worker`` on the real broker: False while the worker's group (here a group of
    its own, so no running worker answers for it) has not committed past the purge's
    records, True once it has. Only offsets are committed; no record is written."""
    import uuid

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from hub.core import topics
    from hub.core.kafka.client import client_options

    group = f"purge-wait-{uuid.uuid4().hex[:8]}"
    mine = settings.model_copy(update={"worker": settings.worker.model_copy(
        update={"app_id": group})})  # fmt: skip

    async def scenario() -> tuple[bool, bool, bool]:
        never = await purge.await_worker(mine, {0: 5}, timeout_s=0)
        consumer = AIOKafkaConsumer(**client_options(mine), group_id=group,
                                    enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        try:
            tp = TopicPartition(topics.DEMANDES, 0)
            consumer.assign([tp])
            await consumer.commit({tp: 5})  # the record at 5 not processed yet
            short = await purge.await_worker(mine, {0: 5}, timeout_s=0)
            await consumer.commit({tp: 6})
            past = await purge.await_worker(mine, {0: 5}, timeout_s=5)
        finally:
            await consumer.stop()
        return never, short, past

    assert asyncio.run(scenario()) == (False, False, True)
