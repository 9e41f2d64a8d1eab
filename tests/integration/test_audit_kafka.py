"""Audit of Kafka feed deliveries: the real worker dispatches to two actors, ``hub audit
record --once`` (a real subprocess, real broker) records exactly the deliveries carrying
personal data, on SQLite and on PostgreSQL; they are queried by numéro unique and by actor
through the API and ``hub audit``; a rerun (same group, then a new group re-reading
everything) adds no row."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.audit.store import AuditStore
from tests.integration.api_support import register
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

#: communes no other test uses: few copies of other tests' demands reach our actors
HERE, ELSEWHERE = "76204", "76205"


@pytest.fixture
def audit_db(migrated_db: tuple[str, Engine]) -> tuple[str, Engine]:
    return migrated_db


def _hub(env: dict[str, str], db_url: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                         env={**env, "HUB_DATABASE__URL": db_url}, capture_output=True,
                         timeout=180, check=False)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode()


def _key(r: dict[str, Any], actor_id: str) -> tuple[str, str, int, str, str, str]:
    return (actor_id, r["numUnique"], int(r["demandeVersion"]), "kafka", r["profile"],
            r["kind"])


def test_kafka_deliveries_are_audited_once(
        worker: Any, actor_service: Any, settings: HubSettings, hub_env: dict[str, str],
        audit_db: tuple[str, Engine]) -> None:
    from hub.api.app import create_app

    db_url, engine = audit_db
    suffix = uuid.uuid4().hex[:8]
    actors = [Actor(id=f"aud-{p[11:15]}-{suffix}", name="Audit", kind="bailleur",
                    profile=p, filters=ActorFilters(communes=[HERE]))
              for p in ("consultant_simple", "consultant_sensible")]
    for a in actors:
        actor_service.add_or_update(a)
    num, moved = new_num_unique(), new_num_unique()
    events = [demande_event(num, [HERE]), demande_event(moved, [HERE]),
              demande_event(num, [HERE], operation="MOD"),
              # moved out of the territory: a RETRAIT, which carries no personal data
              demande_event(moved, [ELSEWHERE], operation="MOD")]
    time.sleep(1.0)  # let the worker take the new actors before the demands
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))

    def complete(rs: list[dict[str, Any]]) -> bool:
        return (sum(r["numUnique"] == num for r in rs) >= 2
                and any(r["numUnique"] == moved and r["kind"] == "RETRAIT" for r in rs))

    feeds = {a.id: collect_feed(settings, a.id, until=complete, worker=worker) for a in actors}
    for a in actors:
        assert complete(feeds[a.id]), f"dispatch to {a.id} incomplete"
    expected = {a.id: sorted(_key(r, a.id) for r in feeds[a.id] if r["demande"] is not None)
                for a in actors}

    group = f"audit-test-{suffix}"
    pattern = rf"^hub\.feed\.aud-.*-{suffix}$"  # our two feeds only: not the broker's history
    out = _hub(hub_env, db_url, "audit", "record", "--once", "--group", group,
               "--pattern", pattern, "--timeout", "120")
    assert f"{sum(map(len, expected.values()))} delivery(ies) recorded" in out

    store = AuditStore(engine)

    def by_actor(actor_id: str) -> list[tuple[str, str, int, str, str, str]]:
        return sorted((e.actor_id, e.num_unique, e.demande_version, e.channel, e.profile,
                       e.kind) for e in store.query(actor_id=actor_id))

    for a in actors:
        assert by_actor(a.id) == expected[a.id]
    by_num = sorted((e.actor_id, e.num_unique, e.demande_version, e.channel, e.profile,
                     e.kind) for e in store.query(num_unique=num))
    assert by_num == sorted(k for a in actors for k in expected[a.id] if k[1] == num)
    assert [k[5] for k in by_num] == ["DEMANDE", "DEMANDE", "DEMANDE", "DEMANDE"]
    assert {k[2] for k in by_num} == {1, 2}
    # the RETRAIT of the moved demand is not a delivery of personal data
    assert {e.kind for e in store.query(num_unique=moved)} == {"DEMANDE"}
    assert len(store.query(num_unique=moved)) == 2

    # the CLI and the API answer the same rows
    lines = [json.loads(x) for x in _hub(hub_env, db_url, "audit", "--num-unique", num)
             .splitlines()]
    assert sorted((d["actorId"], d["demandeVersion"], d["channel"], d["profile"])
                  for d in lines) == sorted((k[0], k[2], k[3], k[4]) for k in by_num)
    admin = register(engine, kind="etat")
    with TestClient(create_app(settings, engine)) as client:
        r = client.get(f"/audit?numUnique={num}", headers=admin.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["deliveries"]) == len(by_num)
        r = client.get(f"/audit?actorId={actors[1].id}", headers=admin.headers)
        assert sorted((d["numUnique"], d["demandeVersion"], d["kind"])
                      for d in r.json()["deliveries"]) == sorted(
            (k[1], k[2], k[5]) for k in expected[actors[1].id])
        assert {d["profile"] for d in r.json()["deliveries"]} == {"consultant_sensible"}

    # reruns: same group (nothing new), a new group re-reading everything: no duplicate
    out = _hub(hub_env, db_url, "audit", "record", "--once", "--group", group,
               "--pattern", pattern)
    assert " 0 delivery(ies) recorded" in out
    out = _hub(hub_env, db_url, "audit", "record", "--once", "--group", group + "-again",
               "--pattern", pattern)
    # a new group reads every record again and inserts none
    assert " 0 delivery(ies) recorded" in out and not out.startswith("0 feed record(s)")
    for a in actors:
        assert by_actor(a.id) == expected[a.id]


def test_an_undecodable_feed_record_goes_to_the_dlq_and_the_rest_is_recorded(
        settings: HubSettings, tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from hub.core import topics
    from hub.core.kafka.admin import ensure_topics, feed_spec
    from hub.core.kafka.client import client_options, new_producer, topic_partitions
    from hub.stores.audit.recorder import AuditRecorder
    from schemas import get_codec

    actor_id = f"aud-junk-{uuid.uuid4().hex[:8]}"
    num = new_num_unique()
    good = get_codec().encode("FeedRecord", {
        "kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num, "operation": "CRE",
        "demandeVersion": 1, "occurredAt": 1, "dispatchedAt": 1_700_000_000_000,
        "profile": "consultant_simple", "reason": None, "changedFields": [],
        "demande": demande_event(num, [HERE])["demande"], "evenement": None})
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)

    async def go() -> tuple[int, list[dict[str, Any]]]:
        await ensure_topics(settings, [feed_spec(actor_id)])
        probe = AIOKafkaConsumer(**client_options(settings), group_id=None)
        await probe.start()
        parts = await topic_partitions(probe, topics.DLQ) or [TopicPartition(topics.DLQ, 0)]
        before = await probe.end_offsets(parts)
        producer = new_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(topics.feed_topic(actor_id), b"not avro", key=b"k")
            await producer.send_and_wait(topics.feed_topic(actor_id), good, key=num.encode())
        finally:
            await producer.stop()
        recorder = AuditRecorder(settings, engine, group=f"audit-test-{actor_id}",
                                 pattern=rf"^hub\.feed\.{actor_id}$")
        await recorder.start()
        try:
            stats = await recorder.run(once=True, timeout_s=60)
        finally:
            await recorder.stop()
        probe.assign(parts)
        for tp in parts:
            probe.seek(tp, before[tp])
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                x["sourceTopic"] == topics.feed_topic(actor_id) for x in letters):
            for ms in (await probe.getmany(timeout_ms=500)).values():
                letters += [get_codec().decode_as(m.value, "DeadLetter") for m in ms]
        await probe.stop()
        return stats.recorded, letters

    recorded, letters = asyncio.run(go())
    assert recorded == 1
    mine = [x for x in letters if x["sourceTopic"] == topics.feed_topic(actor_id)]
    assert len(mine) == 1 and mine[0]["reason"] == "undecodable"
    assert mine[0]["payload"] == b"not avro" and mine[0]["sourceOffset"] == 0
    assert [(e.num_unique, e.kind) for e in AuditStore(engine).query(actor_id=actor_id)] == [
        (num, "DEMANDE")]


def test_once_with_no_matching_feed_ends_at_once(hub_env: dict[str, str], tmp_path: Path) -> None:
    out = _hub(hub_env, f"sqlite:///{tmp_path / 'a.db'}", "audit", "record", "--once",
               "--group", f"audit-test-{uuid.uuid4().hex[:8]}",
               "--pattern", rf"^hub\.feed\.none-{uuid.uuid4().hex}$", "--timeout", "5")
    assert "0 feed record(s) read, 0 delivery(ies) recorded" in out
