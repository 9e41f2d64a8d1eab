"""The statistics fold (``hub stats fold``'s connector) on the real broker and a real
database (SQLite and PostgreSQL): records published to a private topic — good demand
events, the same record twice, a tombstone, a record without key, an undecodable value, a
record keyed by another demand, the hub's own tick — each handled as the Kafka record model
allows them, none stopping the fold nor costing a good record; offsets committed after the
facts, so a restart in the same group folds only what is new and a new group folds nothing
twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Engine

from dispatch.ticks import tick_value
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from hub.services.statistics_fold import StatisticsFold
from hub.services.statistics_folder import Folder
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from monitoring.metrics import REGISTRY
from reliability.cluster import REPO, free_port
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

ROUEN_COMMUNE = "76540"


async def _topic(settings: HubSettings) -> str:
    name = f"test.stats.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1)])
    finally:
        await admin.close()
    return name


async def _publish(settings: HubSettings, topic: str,
                   records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Every record on partition 0, in order (bad ones between good ones)."""
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


async def _fold_until(settings: HubSettings, engine: Engine, topic: str, group: str,
                      done: Any, timeout: float = 45.0) -> Counter[str]:
    fold = StatisticsFold(settings, Folder(StatisticsStore(engine), DeclarationStore(engine)),
                          topic=topic, group=group)
    stop = asyncio.Event()
    task = asyncio.create_task(fold.run(stop))
    deadline = time.monotonic() + timeout
    while not done(fold.stats.counts) and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # anything more would be counted now
    stop.set()
    await asyncio.wait_for(task, 10)  # stops cleanly, within the fetch wait
    return Counter(fold.stats.counts)


def test_the_fold_handles_every_odd_record_and_folds_each_demand_once(
        settings: HubSettings, migrated_db: tuple[str, Engine]) -> None:
    _url, engine = migrated_db
    codec = get_codec()
    nums = [new_num_unique() for _ in range(12)]
    cres = [demande_event(n, [ROUEN_COMMUNE], typologies=["T3"]) for n in nums]
    rad = demande_event(nums[0], [ROUEN_COMMUNE], operation="RAD",
                        radiation={"dateRadiation": "2026-01-05", "motifRadiation": "RADATT"})
    good = [(n.encode(), codec.encode("DemandeEvent", e)) for n, e in zip(nums, cres, strict=True)]
    odd: list[tuple[bytes | None, bytes | None]] = [
        good[1],  # the same record twice
        (nums[2].encode(), None),  # a tombstone
        (None, good[3][1]),  # a good value without key
        (nums[4].encode(), b"\xc3\x01 not an Avro body"),  # an unknown writer schema
        (nums[4].encode(), b"plain text"),  # not single-object encoding at all
        (nums[5].encode(), good[6][1]),  # keyed by another demand
        (b"clock", tick_value(codec, 0, int(time.time() * 1000))),  # the hub's own tick
    ]
    records = good[:6] + odd + good[6:] + [(nums[0].encode(), codec.encode("DemandeEvent", rad)),
                                           good[7]]  # fmt: skip

    async def scenario() -> None:
        topic = await _topic(settings)
        await _publish(settings, topic, records)
        group = f"test-stats-{uuid.uuid4().hex[:8]}"
        counts = await _fold_until(settings, engine, topic, group,
                                   lambda c: sum(c.values()) >= len(records))
        assert counts == Counter(folded=13, duplicate=2, tombstone=1, missing_key=1,
                                 undecodable=1, unknown_schema=1, key_mismatch=1,
                                 other_record=1), counts
        store = StatisticsStore(engine)
        faits = {f.num_unique: f for f in store.faits("commune", ROUEN_COMMUNE)}
        assert set(faits) == set(nums)
        assert [n for n, f in faits.items() if not f.active] == [nums[0]]
        assert faits[nums[0]].attribuee
        assert REGISTRY.get_sample_value("passerelle_statistics_stock_actif",
                                         {"departement": "76"}) == store.stock_actif(["76"])["76"]

        # the same group again: only what is new (the offsets were committed)
        late = new_num_unique()
        await _publish(settings, topic, [(late.encode(), codec.encode(
            "DemandeEvent", demande_event(late, [ROUEN_COMMUNE])))])
        again = await _fold_until(settings, engine, topic, group,
                                  lambda c: c["folded"] >= 1)
        assert again == Counter(folded=1), again
        # another group reads everything again: nothing is folded twice
        other = await _fold_until(settings, engine, topic, f"{group}-b",
                                  lambda c: sum(c.values()) >= len(records) + 1)
        assert other["folded"] == 0 and other["duplicate"] == 16, other
        assert len(store.faits("commune", ROUEN_COMMUNE)) == 13

    asyncio.run(scenario())


def test_hub_stats_fold_stops_cleanly_on_sigterm(tmp_path: Path, hub_env: dict[str, str]) -> None:
    """The real command in a subprocess (its own group, its own database): it folds
    hub.demandes (its metrics say so), then SIGTERM ends it with exit 0."""
    port = free_port()
    env = {**hub_env, "HUB_HOME": str(tmp_path / "home"),
           "HUB_STATISTICS__GROUP": f"test-stats-cli-{uuid.uuid4().hex[:8]}"}
    log = tmp_path / "fold.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", "stats", "fold",
             "--metrics-port", str(port)], env=env, cwd=REPO, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "passerelle_statistics_records_total{" not in _metrics(port):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "statistics fold stopped" in log.read_text()


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            return str(r.read().decode())
    except OSError:
        return ""
